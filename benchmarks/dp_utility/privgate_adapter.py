"""privgate under the benchmark: SQL text -> qualified tree -> ``answer`` (plan, bounded SQL in DuckDB, OpenDP).

The timed path is what ``privgate query`` does per question after the policy decision: parse and
qualify the SQL against the catalog, plan, reserve the charge in a ledger (an in-memory
``ChargeSink`` here), run the bounded SQL in the DuckDB file, add noise, commit. No release cache,
so every repetition is a fresh release with fresh noise.
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlglot import parse_one
from sqlglot.optimizer.qualify import qualify

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.executors import open_executor
from privgate.engine.dp import BoundsPolicy, Charge, DpBudget, answer

CATALOG_DIR = Path(__file__).parent / "catalog"


class MemoryLedger:
    """An in-memory ``ChargeSink``: records every reservation and whether it was committed."""

    def __init__(self) -> None:
        self.reserved: dict[str, Charge] = {}
        self.committed: list[Charge] = []

    def reserve(self, charge: Charge, idempotency_key: str) -> str:
        self.reserved[idempotency_key] = charge
        return idempotency_key

    def commit(self, reservation: Any) -> None:
        self.committed.append(self.reserved.pop(reservation))

    def cancel(self, reservation: Any) -> None:
        self.reserved.pop(reservation, None)


class Privgate:
    name = "privgate"

    def __init__(self, db: Path, epsilon: float, delta: float, policy: BoundsPolicy | None = None) -> None:
        self.catalog = load_catalog(CATALOG_DIR)
        self.schema: dict[str, dict[str, dict[str, str]]] = {}
        for _q, domain, table in self.catalog.iter_tables():
            self.schema.setdefault(domain.sql_schema, {})[table.name] = {c.name: c.type for c in table.columns}
        self.executor = open_executor(f"duckdb://{db}")
        self.budget = DpBudget(epsilon=Decimal(str(epsilon)), delta=Decimal(str(delta)))
        self.policy = policy or BoundsPolicy()
        self.ledger = MemoryLedger()

    def run(self, sql: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        tree = qualify(parse_one(sql, read="duckdb"), schema=self.schema, dialect="duckdb")
        result, _plan = answer(tree, self.catalog, self.budget, self.executor, scope="bench",
                              salt=secrets.token_hex(8), policy=self.policy, ledger=self.ledger,
                              idempotency_key=secrets.token_hex(8))
        seconds = time.perf_counter() - t0
        return {"columns": [c.name for c in result.columns], "rows": [list(r) for r in result.rows],
                "seconds": seconds, "epsilon": float(result.charge.epsilon), "delta": float(result.charge.delta)}

    def close(self) -> None:
        self.executor.close()
