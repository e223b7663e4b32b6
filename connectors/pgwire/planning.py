"""Deciding a statement for this session, and answering with differential privacy.

``_plan`` asks the ``Governor`` with the session's principal, purpose and search path — except in a failed
transaction block (25P02 without a decision, no DP charge) and without a purpose. DP answers run off the
event loop; their failure becomes an ErrorResponse with a stable SQLSTATE.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from privgate.engine.dp import DpResult
from privgate.engine.dp.errors import UpstreamError
from privgate.engine.errors import PrivgateError

from . import protocol as pq
from . import values
from .govern import DENY_SQLSTATE, Plan
from .search_path import SearchPathTracking
from .transaction import ABORTED_MESSAGE, ABORTED_SQLSTATE, TransactionBlock

log = logging.getLogger("privgate.serve")


class Planning(TransactionBlock, SearchPathTracking):
    """Planning and DP answers, shared by the simple and the extended flow."""

    def _plan(self, sql: str) -> Plan:
        if self._aborted():
            # In a failed transaction PostgreSQL ignores everything but COMMIT/ROLLBACK. Statements the upstream
            # sees (session, catalog) get its own answer; the rest never reach the engine (no decision, no charge).
            c = self.gov.classify(sql)
            if c.kind not in ("session", "catalog", "empty"):
                return Plan("deny", sqlstate=ABORTED_SQLSTATE, message=ABORTED_MESSAGE)
        if not self.purpose:
            c = self.gov.classify(sql)
            if c.kind not in ("session", "catalog", "empty", "purpose", "show_purpose"):
                return Plan("deny", sqlstate=DENY_SQLSTATE, message="privgate needs a purpose for this session",
                            detail="reason codes: purpose_missing",
                            hint="SET privgate.purpose = '...' or connect with options='-c privgate.purpose=...'")
        t0 = time.perf_counter()
        plan = self.gov.plan(sql, self.principal, self.purpose, self._analyzer_path())
        self.gov.metrics.observe("plan", time.perf_counter() - t0)
        if plan.kind == "deny":
            log.info(json.dumps({"event": "deny", "principal": self.principal.id, "purpose": self.purpose,
                                 "detail": plan.detail}))
        return plan

    async def _dp(self, plan: Plan, params: tuple[str | None, ...]) -> DpResult | None:
        """Run a DP answer off the event loop; on failure an ErrorResponse is sent and None returned."""
        t0 = time.perf_counter()
        try:
            result = await asyncio.to_thread(self.gov.dp.run, plan, self.principal, params)
        except PrivgateError as exc:
            state = "53400" if exc.code.startswith("budget_") else ("58000" if isinstance(exc, UpstreamError)
                                                                     else DENY_SQLSTATE)
            self.send(pq.error_response(state, f"privgate could not answer with differential privacy: {exc.message}",
                                        detail=f"reason codes: {exc.code}"))
            self.gov.metrics.decision("dp_error", exc.code)
            return None
        self.gov.metrics.observe("dp", time.perf_counter() - t0)
        if not result.cached:
            self.gov.metrics.charged(result.charge.epsilon)
        return result

    def _dp_notice(self, result: DpResult) -> None:
        msg, detail = self.gov.dp.notice(result, self.principal.id)
        self.send(pq.notice_response(msg, detail))

    def _local_description(self, plan: Plan) -> bytes:
        if plan.classified is not None and plan.classified.kind == "show_purpose":
            return pq.row_description([pq.Column("privgate.purpose", values.TEXT)])
        return pq.NO_DATA


def dp_columns(result: DpResult) -> list[pq.Column]:
    cols = []
    for i, c in enumerate(result.columns):
        oid = values.oid_of([row[i] for row in result.rows], c.aggregate if c.kind == "aggregate" else None)
        name = c.name
        # No explicit alias ('' or count(*)'s '*'): name it after the function, as PG does. An explicit alias is
        # kept verbatim even when it is not an identifier (BI tools label metrics `AS "SUM(amount)"`).
        if c.kind == "aggregate" and c.aggregate and name in ("", "*"):
            name = {"count_col": "count", "count_units": "count"}.get(c.aggregate, c.aggregate)
        cols.append(values.column(name, oid))
    return cols

