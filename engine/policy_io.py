"""The policy boundary: the versioned ``input`` document, the ``data`` document, and the result shape.

``input`` is per request (principal, purpose, facts, budget view) and is versioned: policies may
check ``input.version``. ``data`` is long-lived (catalog, rules packs, budget settings) and is loaded
into the evaluator once, as OPA keeps them apart. Budget arithmetic happens here, exactly, in
Python; Rego only compares the booleans it is given (regorus and OPA disagree on float arithmetic).

The JSON Schema of ``input`` is generated from ``PolicyInput`` into ``docs/policy-input.schema.json``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from .catalog import Catalog
from .decision import Obligation, Reason, Request, Surface
from .errors import PolicyError
from .facts import Facts
from .rules import Rules

INPUT_VERSION = 1


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalDoc(_Doc):
    id: str
    roles: tuple[str, ...]


class RequestDoc(_Doc):
    id: str
    principal: PrincipalDoc
    purpose: str
    surface: Surface
    dialect: str


class BudgetDoc(_Doc):
    """The budget as the policy sees it; numbers are decimal strings, comparisons are precomputed."""

    query_class: str
    epsilon: str = Field(description="epsilon this query class costs, decimal string")
    delta: str
    remaining: str | None = Field(description="remaining epsilon, decimal string; null when unlimited")
    affordable: bool = Field(description="remaining >= epsilon, computed exactly")


class PolicyInput(_Doc):
    """The ``input`` document of one policy evaluation (version 1)."""

    version: Literal[1] = 1
    request: RequestDoc
    facts: Facts
    budget: BudgetDoc


class PolicyResult(_Doc):
    """What every surface's ``decision`` rule must produce. Anything else is a policy error."""

    allow: StrictBool = Field(description="true only as a JSON boolean; 'yes' or 1 is a malformed result")
    deny: tuple[Reason, ...] = ()
    obligations: tuple[Obligation, ...] = ()


def build_input(request: Request, request_id: str, facts: Facts, rules: Rules,
                remaining: Decimal | None) -> PolicyInput:
    """The validated model of the input document (documentation, schema, tests)."""
    return PolicyInput.model_validate(
        input_document(request, request_id, facts.model_dump(mode="json"), rules, remaining))


def input_document(request: Request, request_id: str, facts_doc: dict[str, Any], rules: Rules,
                   remaining: Decimal | None) -> dict[str, Any]:
    """The ``input`` document as plain JSON-ready data: the hot path (no model round trip).

    ``facts_doc`` is ``Facts.model_dump(mode="json")``, computed once per cached analysis;
    ``tests/test_policy_schema.py`` checks this matches ``PolicyInput`` exactly.
    """
    qclass = request.query_class or rules.dp.default_class
    cls = rules.dp.classes.get(qclass)
    if cls is None:
        raise PolicyError(f"unknown query class {qclass!r}; known: {', '.join(sorted(rules.dp.classes))}",
                          code="policy_unknown_query_class")
    return {
        "version": INPUT_VERSION,
        "request": {
            "id": request_id,
            "principal": {"id": request.principal.id, "roles": list(request.principal.roles)},
            "purpose": request.purpose, "surface": request.surface, "dialect": request.dialect,
        },
        "facts": facts_doc,
        "budget": {
            "query_class": qclass, "epsilon": str(cls.epsilon), "delta": str(cls.delta),
            "remaining": None if remaining is None else str(remaining),
            "affordable": remaining is None or remaining >= cls.epsilon,
        },
    }


def build_data(catalog: Catalog, rules: Rules) -> dict[str, Any]:
    """The ``data.privgate`` document: catalog indexed for O(1) lookups from Rego, plus rules."""
    tables: dict[str, Any] = {}
    for qname, domain, table in catalog.iter_tables():
        tables[qname] = {
            "domain": domain.name,
            "public": table.public,
            "privacy_unit": table.privacy_unit.column.lower() if table.privacy_unit else None,
            "unit_namespace": table.privacy_unit.namespace if table.privacy_unit else None,
            "consent": {p: c.lower() if c else None for p, c in table.consent.items()},
            "columns": {
                c.name.lower(): {
                    "type": c.type,
                    "pii": list(c.entities()),
                    "public_keys": c.public_keys is not None,
                    "bounded": c.bounds is not None,
                }
                for c in table.columns
            },
        }
    domains = {
        d.name: {
            "owner": d.owner,
            "allowed_purposes": list(d.allowed_purposes),
            "sharing": {s.with_domain: list(s.purposes) for s in d.sharing},
        }
        for d in catalog.domains
    }
    rules_doc = rules.model_dump(mode="json")
    rules_doc["allowed_functions"] = sorted(rules.allowed_functions)
    return {"privgate": {"catalog": {"tables": tables, "domains": domains}, "rules": rules_doc}}


def parse_result(raw: Any) -> PolicyResult:
    """Validate a backend's raw result; a malformed result is an evaluation error, never an allow."""
    try:
        return PolicyResult.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"policy returned a malformed decision: {exc.errors()[0]['msg']}",
                          code="policy_bad_result") from exc
