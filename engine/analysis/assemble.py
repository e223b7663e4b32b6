"""Per-statement analysis and the merge of several statements into one ``Facts``.

Each statement is collected (facts on its face), qualified (when it carries a query) and traced.
Qualification or tracing that fails does not fail the request: the statement keeps its parsed tree,
and the failure becomes an ``unsupported`` fact the policy denies on (fail closed, with a reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.optimizer.scope import Scope, build_scope, traverse_scope

from ..facts import AggregateFact, ColumnFact, Facts, JoinFact, StatementKind, TableFact, Unsupported, Usage
from .collect import Collected, collect, nodes_of
from .kinds import riskiest, statement_kind
from .lineage import ColumnUse, Tracer
from .parse import parse_statements
from .qualify import normalize_only, qualify
from .schema import DialectCatalog

_USAGE_ORDER: tuple[Usage, ...] = get_args(Usage)
_QUERY_STATEMENTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values, exp.Insert, exp.Update,
                     exp.Delete, exp.Merge)


@dataclass
class StatementFacts:
    tree: exp.Expression
    kind: StatementKind
    collected: Collected
    tracer: Tracer
    tables: dict[str, TableFact] = field(default_factory=dict)
    limit: int | None = None


def analyze_statement(statement: exp.Expression, sql: str, index: int, view: DialectCatalog,
                      dialect: Dialect, allowed: frozenset[str],
                      search_path: tuple[str, ...] | None = None) -> StatementFacts:
    kind = statement_kind(statement)
    collected = Collected()
    collect(statement, allowed, collected)
    tracer = Tracer(view)
    tree = statement
    tables, ctes = collected.table_nodes, collected.cte_nodes
    query = _query_root(statement)
    if query is None:
        tree = normalize_only(statement, view, dialect, tables, ctes, search_path)
    else:
        try:
            if query is statement:
                tree = qualify(statement, view, dialect, tables, ctes, search_path)
            else:
                tree = normalize_only(statement, view, dialect, tables, ctes, search_path)
                qualify(query, view, dialect, tables, ctes, search_path)
        except Exception as exc:  # sqlglot raises OptimizeError and plain errors alike; fail closed
            collected.flag("qualify", f"could not qualify the statement against the catalog: {exc}")
            fresh = parse_statements(sql, dialect)[index]  # the failed attempt may have half-edited it
            tables, ctes = nodes_of(fresh)
            tree = normalize_only(fresh, view, dialect, tables, ctes, search_path)
            query = None
        if query is not None:
            try:
                _trace(tracer, tree if query is statement else query)
            except Exception as exc:  # never let a lineage gap pass as "no PII"
                collected.flag("lineage", f"could not trace column lineage: {type(exc).__name__}: {exc}")
    facts = StatementFacts(tree=tree, kind=kind, collected=collected, tracer=tracer,
                           limit=_limit(tree) if kind == "select" else None)
    _tables(tree, tables, ctes, view, facts)
    return facts


def _query_root(statement: exp.Expression) -> exp.Expr | None:
    if isinstance(statement, _QUERY_STATEMENTS):
        return statement
    if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
        return statement
    if isinstance(statement, exp.Copy) and isinstance(statement.this, exp.Query | exp.Subquery):
        return statement.this
    return None


def _trace(tracer: Tracer, tree: exp.Expr) -> None:
    if isinstance(tree, exp.Query | exp.Subquery | exp.Values):
        root = build_scope(tree)
        if root is None:
            return
        tracer.trace(list(root.traverse()), [root])
        return
    scopes: list[Scope] = traverse_scope(tree)
    tracer.trace(scopes, [s for s in scopes if s.parent is None])


def _tables(tree: exp.Expression, tables: list[exp.Table], cte_nodes: list[exp.CTE],
            view: DialectCatalog, out: StatementFacts) -> None:
    if isinstance(tree, exp.Use):
        kind = str(tree.args.get("kind") or "").upper()
        if "ROLE" in kind:
            out.collected.flag("session_setting", f"USE {kind} changes who runs later statements")
        return
    ctes = {cte.alias for cte in cte_nodes}
    for table in tables:
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions are facts of their own (functions, unsupported)
        if table.args.get("db") is None and table.name in ctes:
            continue
        found = view.lookup(table)
        if found is not None:
            out.tables.setdefault(found.qname,
                                  TableFact(name=found.qname, known=True, domain=found.domain.name))
        else:
            name = ".".join(p.name for p in table.parts).lower()
            out.tables.setdefault(name, TableFact(name=name, known=False))


def _limit(tree: exp.Expression) -> int | None:
    node: exp.Expression | None = tree
    while node is not None:
        limit = node.args.get("limit")
        if isinstance(limit, exp.Limit | exp.Fetch):
            value = limit.args.get("expression") or limit.args.get("count")
            if isinstance(value, exp.Literal) and value.is_int:
                return int(value.name)
            return None
        node = node.this if isinstance(node, exp.Subquery) else None
    return None


def merge(parts: list[StatementFacts], dialect: str, allowed: frozenset[str]) -> Facts:
    """One ``Facts`` for the whole request; see the package docstring for the multi-statement rule."""
    if not parts:
        return Facts(dialect=dialect, statement_kind="empty", statement_count=0)
    tables: dict[str, TableFact] = {}
    columns: dict[tuple[str, str], ColumnUse] = {}
    aggregates: list[AggregateFact] = []
    joins: list[JoinFact] = []
    unsupported: list[Unsupported] = []
    ctes: list[str] = []
    functions: set[str] = set()
    windows: set[str] = set()
    set_ops: set[str] = set()
    unknown_columns: set[str] = set()
    group_by: set[str] = set()
    for part in parts:
        tables.update({k: v for k, v in part.tables.items() if k not in tables})
        for key, use in part.tracer.columns.items():
            acc = columns.setdefault(key, ColumnUse())
            acc.usages |= use.usages
            acc.aggregates |= use.aggregates
            acc.transforms |= use.transforms
        aggregates.extend(a for a in part.tracer.aggregates if a not in aggregates)
        joins.extend(j for j in part.tracer.joins if j not in joins)
        for fact in [*part.collected.unsupported, *part.tracer.unsupported]:
            if fact not in unsupported:
                unsupported.append(fact)
        ctes.extend(c for c in part.collected.ctes if c not in ctes)
        functions |= part.collected.functions
        windows |= part.collected.window_functions
        set_ops |= part.collected.set_operations
        unknown_columns |= part.tracer.unknown_columns
        group_by |= part.tracer.group_by
    selects = [p for p in parts if p.kind == "select"]
    return Facts(
        dialect=dialect,
        statement_kind=riskiest([p.kind for p in parts]),
        statement_count=len(parts),
        tables=tuple(sorted(tables.values(), key=lambda t: t.name)),
        columns=tuple(
            ColumnFact(table=t, column=c, usages=tuple(u for u in _USAGE_ORDER if u in use.usages),
                       aggregates=tuple(sorted(use.aggregates)), transforms=tuple(sorted(use.transforms)))
            for (t, c), use in sorted(columns.items()) if use.usages
        ),
        aggregates=tuple(aggregates),
        joins=tuple(joins),
        ctes=tuple(ctes),
        subquery_count=sum(p.collected.subquery_count for p in parts),
        set_operations=tuple(sorted(set_ops)),
        window_functions=tuple(sorted(windows)),
        functions=tuple(sorted(functions)),
        disallowed_functions=tuple(sorted(f for f in functions if f not in allowed)),
        unknown_tables=tuple(sorted(t.name for t in tables.values() if not t.known)),
        unknown_columns=tuple(sorted(unknown_columns)),
        group_by=tuple(sorted(group_by)),
        has_group_by=any(p.tracer.has_group_by for p in parts),
        has_star=any(p.collected.has_star for p in parts),
        limit=parts[0].limit,
        is_aggregate_query=bool(selects) and len(selects) == len(parts)
        and all(p.tracer.is_aggregate_query for p in selects),
        unsupported=tuple(unsupported),
    )
