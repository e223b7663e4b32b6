"""Column lineage over sqlglot scopes: which catalog columns reach the result, and how each is used.

Every scope (query, CTE, derived table, subquery, set-operation branch, UNNEST/LATERAL) exposes
*outputs*: for each output column, the source-column *flows* that feed it. A flow is a catalog
column plus the aggregate functions and the non-aggregate functions it passed through. Outputs are
computed once per scope (memoized), so a column deep inside nested CTEs is traced back to its
catalog table through ``*``, aliases, set operations and subqueries.

Only flows that reach the outermost query's outputs become ``projected`` (no aggregate on the way)
or ``aggregated`` (with the aggregate names). Everything else a column does is recorded wherever it
happens, in any scope, because it shapes the result even when the column never leaves:

    WHERE / HAVING / QUALIFY, CASE WHEN conditions, comparisons in the select list  -> filtered
    GROUP BY, DISTINCT, DISTINCT ON                                                  -> grouped
    JOIN ... ON, and WHERE equalities between two sources (comma joins)              -> joined
    ORDER BY (also inside aggregates, e.g. string_agg(x ORDER BY y))                 -> ordered
    window PARTITION BY / ORDER BY                                                   -> windowed

``SELECT count(*) FROM (SELECT email FROM customers) t`` therefore reports nothing about email:
its value never reaches the result and it shapes nothing. The walk needs a qualified tree (run
``qualify_tables`` and ``qualify_columns`` first): it reads each column's source from its table
qualifier, and an unqualified column that is not an output alias is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from ..facts import AggregateFact, JoinFact, Unsupported, Usage
from .names import OPERATORS, function_name
from .schema import DialectCatalog
from .shape import (
    aggregate_level,
    conjuncts,
    group_keys_of,
    is_aggregate,
    is_join_predicate,
    join_kind,
    windowed,
)

_EMPTY: frozenset[str] = frozenset()
_VALUE = "value"
_PREDICATES = (exp.Predicate, exp.Connector, exp.Not, exp.Xor)
#: Window functions sqlglot models as aggregates that return one row's value unchanged.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)


@dataclass(frozen=True, slots=True)
class Flow:
    """A catalog column's value on its way to an output, with what was applied to it."""

    table: str
    column: str
    aggs: frozenset[str] = _EMPTY
    transforms: frozenset[str] = _EMPTY
    dep: bool = False  # only decides the value (a CASE condition, a comparison): never projected

    def through(self, aggs: frozenset[str], transforms: frozenset[str]) -> Flow:
        if not aggs and not transforms:
            return self
        return Flow(self.table, self.column, self.aggs | aggs, self.transforms | transforms, self.dep)

    def as_dep(self) -> Flow:
        return self if self.dep else Flow(self.table, self.column, self.aggs, self.transforms, True)


@dataclass
class ColumnUse:
    usages: set[Usage] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)
    transforms: set[str] = field(default_factory=set)


Outputs = list[tuple[str, list[Flow]]]


class Tracer:
    """Walks one qualified statement's scopes and accumulates column facts."""

    def __init__(self, view: DialectCatalog) -> None:
        self.view = view
        self.columns: dict[tuple[str, str], ColumnUse] = {}
        self.unknown_columns: set[str] = set()
        self.aggregates: list[AggregateFact] = []
        self.joins: list[JoinFact] = []
        self.unsupported: list[Unsupported] = []
        self.group_by: set[str] = set()
        self.has_group_by = False
        self.is_aggregate_query = False
        self._outputs: dict[int, Outputs] = {}
        self._busy: set[int] = set()
        self._scope_of: dict[int, Scope] = {}
        self._base_tables: dict[int, tuple[str, ...]] = {}
        self._lambda_vars: list[set[str]] = []
        self._sink: list[Flow] | None = None

    # ---- entry point -------------------------------------------------------------------------

    def trace(self, scopes: list[Scope], roots: Iterable[Scope]) -> None:
        """Trace every scope; the outputs of ``roots`` are what the statement returns."""
        for scope in scopes:
            self._scope_of[id(scope.expression)] = scope
            if isinstance(scope.expression, exp.Subquery):
                self._scope_of.setdefault(id(scope.expression.this), scope)
        for scope in scopes:
            self.outputs(scope)
            self._clauses(scope)
        for root in roots:
            for _, flows in self.outputs(root):
                for f in flows:
                    if f.dep:
                        continue  # its predicate use was recorded where it happened
                    if f.aggs:
                        self._use(f, "aggregated")
                    else:
                        self._use(f, "projected")
            level = aggregate_level(root)
            if level:
                self.is_aggregate_query = all(is_aggregate(s) for s in level)
                for s in level:
                    self._group_keys(s)

    # ---- outputs of a scope ------------------------------------------------------------------

    def outputs(self, scope: Scope) -> Outputs:
        key = id(scope)
        done = self._outputs.get(key)
        if done is not None:
            return done
        if key in self._busy:  # a recursive CTE referencing itself: its own rows add no new columns
            return []
        self._busy.add(key)
        sink, self._sink = self._sink, None  # a lazily computed scope must not feed a caller's sink
        try:
            result = self._compute_outputs(scope)
        finally:
            self._busy.discard(key)
            self._sink = sink
        self._outputs[key] = result
        return result

    def _compute_outputs(self, scope: Scope) -> Outputs:
        node = scope.expression
        if isinstance(node, exp.Select):
            outs: Outputs = []
            distinct = node.args.get("distinct")
            for proj in node.selects:
                if proj.is_star:
                    if not self._reads_unknown_table(scope):
                        self._unsupported("star", f"could not expand {proj.sql()}")
                    outs.append(("*", []))
                    continue
                flows = self._expr(proj.unalias(), scope, _VALUE)
                if distinct is not None and not distinct.args.get("on"):
                    for f in flows:
                        self._use(f, "grouped")
                outs.append((proj.alias_or_name, flows))
            return outs
        if isinstance(node, exp.SetOperation):
            branches = scope.set_operation_scopes
            if len(branches) != 2:
                self._unsupported("set_operation", "could not scope both sides of a set operation")
                return []
            left, right = self.outputs(branches[0]), self.outputs(branches[1])
            if len(left) != len(right):
                self._unsupported("set_operation", "set operation sides have different column counts")
            merged: Outputs = []
            for i, (name, flows) in enumerate(left):
                extra = right[i][1] if i < len(right) else []
                merged.append((name, flows + extra))
            return merged
        if isinstance(node, exp.Subquery):
            inner = scope.table_scopes or scope.subquery_scopes
            return self.outputs(inner[0]) if inner else []
        if isinstance(node, exp.Unnest):
            unnest = frozenset({"unnest"})
            flows = [f for e in node.expressions for f in self._expr(e, scope, _VALUE, tf=unnest)]
            return [(n, list(flows)) for n in _alias_columns(node) or [node.alias or "unnest"]]
        if isinstance(node, exp.Lateral):
            if scope.subquery_scopes:
                return self.outputs(scope.subquery_scopes[0])
            flows = self._expr(node.this, scope, _VALUE)
            return [(n, list(flows)) for n in _alias_columns(node) or [node.alias or "lateral"]]
        return []

    def _near_unknown_table(self, scope: Scope | None) -> bool:
        while scope is not None:
            if self._reads_unknown_table(scope):
                return True
            scope = scope.parent
        return False

    def _reads_unknown_table(self, scope: Scope) -> bool:
        """A source that is a table missing from the catalog (table functions do not count)."""
        return any(isinstance(src, exp.Table) and isinstance(src.this, exp.Identifier)
                   and self.view.lookup(src) is None for _, src in scope.selected_sources.values())

    def _named(self, scope: Scope) -> dict[str, list[Flow]]:
        named: dict[str, list[Flow]] = {}
        for name, flows in self.outputs(scope):
            named.setdefault(name, []).extend(flows)
        return named

    # ---- expressions ---------------------------------------------------------------------------

    def _expr(self, node: exp.Expr, scope: Scope, mode: str,
              aggs: frozenset[str] = _EMPTY, tf: frozenset[str] = _EMPTY) -> list[Flow]:
        """Flows of ``node`` in value mode; in any other mode, record that usage and return []."""
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                return self._star(node, scope, mode, aggs, tf)
            return self._route([f.through(aggs, tf) for f in self._resolve(node, scope)], mode)
        if isinstance(node, exp.TableColumn):  # PostgreSQL whole-row reference: SELECT c FROM t AS c
            return self._whole_row(node.name, node, scope, mode, aggs, tf)
        if isinstance(node, exp.Query) or (
                isinstance(node, exp.Subquery) and isinstance(node.this, exp.Query)):
            return self._subquery(node, scope, mode, aggs, tf)
        if isinstance(node, exp.Window):
            for part in node.args.get("partition_by") or []:
                self._expr(part, scope, "windowed")
            order = node.args.get("order")
            if order is not None:
                for ordered in order.expressions:
                    self._expr(ordered, scope, "windowed")
            return self._expr(node.this, scope, mode, aggs, tf)
        if isinstance(node, exp.AggFunc) and not isinstance(node, _NAVIGATION):
            return self._aggregate(node, scope, mode, aggs, tf)
        if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.AggFunc):
            # percentile_cont(0.5) WITHIN GROUP (ORDER BY x): x is the aggregated value
            order = node.expression
            keys = [o.this for o in order.expressions] if isinstance(order, exp.Order) else []
            return self._aggregate(node.this, scope, mode, aggs, tf, extra=keys)
        if isinstance(node, exp.Filter):  # agg(...) FILTER (WHERE ...)
            self._expr(node.expression, scope, "filtered")
            return self._expr(node.this, scope, mode, aggs, tf)
        if isinstance(node, exp.Order):  # ORDER BY inside an aggregate's arguments
            for ordered in node.expressions:
                self._expr(ordered, scope, "ordered")
            return self._expr(node.this, scope, mode, aggs, tf) if node.this is not None else []
        if isinstance(node, exp.If):  # CASE branch or IF(cond, a, b): the condition is a predicate
            out: list[Flow] = self._condition(node.this, scope, mode, aggs, tf)
            for key in ("true", "false"):
                branch = node.args.get(key)
                if branch is not None:
                    out.extend(self._expr(branch, scope, mode, aggs, tf))
            return out
        if isinstance(node, exp.Case):
            out = []
            if node.this is not None:  # CASE x WHEN 'a' ...: x is compared
                out.extend(self._condition(node.this, scope, mode, aggs, tf))
            for branch in node.args.get("ifs") or []:
                out.extend(self._expr(branch, scope, mode, aggs, tf))
            default = node.args.get("default")
            if default is not None:
                out.extend(self._expr(default, scope, mode, aggs, tf))
            return out
        if mode == _VALUE and isinstance(node, _PREDICATES):
            return self._condition(node, scope, mode, aggs, tf)
        if isinstance(node, exp.Lambda):
            self._lambda_vars.append({e.name for e in node.expressions})
            try:
                return self._expr(node.this, scope, mode, aggs, tf)
            finally:
                self._lambda_vars.pop()
        if isinstance(node, exp.Func) and not isinstance(node, OPERATORS):
            tf = tf | {function_name(node)}
        out = []
        for child in node.iter_expressions():
            out.extend(self._expr(child, scope, mode, aggs, tf))
        return out

    def _condition(self, node: exp.Expr, scope: Scope, mode: str,
                   aggs: frozenset[str], tf: frozenset[str]) -> list[Flow]:
        """A predicate inside a value: filtered where it is, and a dependency of the value.

        ``CASE WHEN amount > 100 THEN 'big' END AS size`` does not project amount, but grouping
        or filtering on ``size`` further out groups or filters on amount.
        """
        if mode != _VALUE:  # e.g. a CASE inside GROUP BY: its condition columns are grouped too
            return self._expr(node, scope, mode, aggs, tf)
        outer, self._sink = self._sink, []
        try:
            self._expr(node, scope, "filtered")
            captured = self._sink
        finally:
            self._sink = outer
        if outer is not None:
            outer.extend(captured)
        return [f.through(aggs, tf).as_dep() for f in captured]

    def _aggregate(self, node: exp.AggFunc, scope: Scope, mode: str, aggs: frozenset[str],
                   tf: frozenset[str], extra: list[exp.Expr] | None = None) -> list[Flow]:
        name = function_name(node)
        inner: list[Flow] = []
        star = False
        distinct = False
        for child in [*node.iter_expressions(), *(extra or [])]:
            if isinstance(child, exp.Star):
                star = True
                continue
            if isinstance(child, exp.Distinct):
                distinct = True
                for e in child.expressions:
                    inner.extend(self._expr(e, scope, _VALUE))
                continue
            inner.extend(self._expr(child, scope, _VALUE))
        if not windowed(node.parent if isinstance(node.parent, exp.WithinGroup) else node):
            cols = tuple(sorted({f"{f.table}.{f.column}" for f in inner if not f.dep}))
            self.aggregates.append(AggregateFact(function=name, distinct=distinct, columns=cols,
                                                 star=star or (not inner and name == "count")))
        return self._route([f.through(aggs | {name}, tf) for f in inner], mode)

    def _subquery(self, node: exp.Expr, scope: Scope, mode: str,
                  aggs: frozenset[str], tf: frozenset[str]) -> list[Flow]:
        query = node.this if isinstance(node, exp.Subquery) else node
        sub = self._scope_of.get(id(query)) or self._scope_of.get(id(node))
        if sub is None:
            self._unsupported("subquery", f"could not scope subquery {_short(node)}")
            return []
        flows = [f.through(aggs, tf) for _, fl in self.outputs(sub) for f in fl]
        return self._route(flows, mode)

    def _star(self, node: exp.Column, scope: Scope, mode: str,
              aggs: frozenset[str], tf: frozenset[str]) -> list[Flow]:
        return self._whole_row(node.table, node, scope, mode, aggs, tf)

    def _whole_row(self, table: str, node: exp.Expr, scope: Scope, mode: str,
                   aggs: frozenset[str], tf: frozenset[str]) -> list[Flow]:
        """Every column of a source at once: ``t.*`` left unexpanded, or a whole-row reference."""
        source = self._source(table, scope)
        if isinstance(source, exp.Table) and (found := self.view.lookup(source)) is not None:
            flows = [Flow(found.qname, col).through(aggs, tf) for col in found.columns.values()]
            return self._route(flows, mode)
        if isinstance(source, Scope):
            return self._route([f.through(aggs, tf) for _, fl in self.outputs(source) for f in fl], mode)
        if not (isinstance(source, exp.Table) and self.view.lookup(source) is None):
            self._unsupported("star", f"could not expand {node.sql()}")
        return []

    def _route(self, flows: list[Flow], mode: str) -> list[Flow]:
        if mode == _VALUE:
            return flows
        if self._sink is not None:
            self._sink.extend(flows)
        for f in flows:
            self._use(f, cast(Usage, mode))
        return []

    # ---- column resolution ---------------------------------------------------------------------

    def _source(self, table: str, scope: Scope | None) -> exp.Table | Scope | None:
        while scope is not None:
            src = scope.sources.get(table)
            if src is not None:
                return src
            scope = scope.parent
        return None

    def _resolve(self, column: exp.Column, scope: Scope) -> list[Flow]:
        name, table = column.name, column.table
        if not table:
            if any(name in names for names in self._lambda_vars):
                return []
            if isinstance(scope.expression, exp.Query) and id(scope) not in self._busy:
                named = self._named(scope)  # an output alias used in ORDER BY / HAVING / QUALIFY
                if name in named:
                    return named[name]
            if not self._near_unknown_table(scope):  # else it may be that table's: reported once
                self.unknown_columns.add(name)
            return []
        source = self._source(table, scope)
        if source is None:
            self.unknown_columns.add(f"{table}.{name}")
            return []
        if isinstance(source, Scope):
            # a recursive CTE's self-reference points at an untraversed copy of its base case
            source = self._scope_of.get(id(source.expression), source)
            named = self._named(source)
            if name in named:
                return named[name]
            inner = source.expression
            if not (isinstance(inner, exp.Select) and any(p.is_star for p in inner.selects)):
                self.unknown_columns.add(f"{table}.{name}")
            return []
        if isinstance(source.this, exp.Func):  # table function in FROM: its arguments are its data
            return [f.through(_EMPTY, frozenset({function_name(source.this)}))
                    for arg in source.this.iter_expressions() for f in self._expr(arg, scope, _VALUE)]
        found = self.view.lookup(source)
        if found is None:
            return []  # an unknown table is reported once, as a table fact
        col = found.columns.get(name)
        if col is None:
            self.unknown_columns.add(f"{found.qname}.{name}")
            return []
        return [Flow(found.qname, col)]

    # ---- clauses -------------------------------------------------------------------------------

    def _clauses(self, scope: Scope) -> None:
        node = scope.expression
        if isinstance(node, exp.Subquery):  # (SELECT ...) ORDER BY 1 LIMIT 1
            inner = scope.table_scopes or scope.subquery_scopes
            order = node.args.get("order")
            if order is not None and inner:
                self._order(order, inner[0])
            return
        if isinstance(node, exp.SetOperation):
            order = node.args.get("order")
            if order is not None:
                self._order(order, scope)
            return
        if not isinstance(node, exp.Select):
            return
        self._joins(node, scope)
        where = node.args.get("where")
        if where is not None:
            for conjunct in conjuncts(where.this):
                self._expr(conjunct, scope, "joined" if is_join_predicate(conjunct) else "filtered")
        for key in group_keys_of(node):
            self._expr(key, scope, "grouped")
        for clause in ("having", "qualify"):
            part = node.args.get(clause)
            if part is not None:
                self._expr(part.this, scope, "filtered")
        distinct = node.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is not None:
            for e in distinct.args["on"].expressions:
                self._expr(e, scope, "grouped")
        order = node.args.get("order")
        if order is not None:
            self._order(order, scope)

    def _order(self, order: exp.Order, scope: Scope) -> None:
        for ordered in order.expressions:
            key = ordered.this
            if isinstance(key, exp.Var) and key.name.upper() == "ALL":  # DuckDB ORDER BY ALL
                for _, flows in self.outputs(scope):
                    self._route(list(flows), "ordered")
                continue
            if isinstance(key, exp.Literal) and key.is_int:  # ORDER BY 2 on a set operation
                outs = self.outputs(scope)
                idx = int(key.name) - 1
                if 0 <= idx < len(outs):
                    self._route(list(outs[idx][1]), "ordered")
                continue
            self._expr(key, scope, "ordered")

    def _joins(self, node: exp.Select, scope: Scope) -> None:
        joins = node.args.get("joins") or []
        if not joins:
            return
        from_ = node.args.get("from_")
        left: list[str] = list(self._tables_of(from_.this, scope)) if from_ is not None else []
        for join in joins:
            right = self._tables_of(join.this, scope)
            on_cols: set[str] = set()
            on = join.args.get("on")
            if on is not None:
                for conjunct in conjuncts(on):
                    if is_join_predicate(conjunct):
                        self._sink = []
                        try:
                            self._expr(conjunct, scope, "joined")
                            on_cols.update(f"{f.table}.{f.column}" for f in self._sink)
                        finally:
                            self._sink = None
                    else:
                        self._expr(conjunct, scope, "filtered")
            for col in join.args.get("using") or []:  # only left when qualification was skipped
                on_cols.add(col.name)
            self.joins.append(JoinFact(kind=join_kind(join), left_tables=tuple(sorted(set(left))),
                                       right_tables=tuple(sorted(set(right))),
                                       on_columns=tuple(sorted(on_cols))))
            left.extend(right)

    def _tables_of(self, node: exp.Expr, scope: Scope) -> tuple[str, ...]:
        """Catalog tables a FROM/JOIN item reads (through derived tables and CTEs)."""
        name = node.alias_or_name
        source = scope.sources.get(name)
        if isinstance(source, exp.Table):
            return self._table_names(source)
        if isinstance(source, Scope):
            return self._scope_tables(source)
        return ()

    def _table_names(self, table: exp.Table) -> tuple[str, ...]:
        """The catalog name of a table, its name as written when unknown; none for a table function."""
        if isinstance(table.this, exp.Func):
            return ()
        found = self.view.lookup(table)
        return (found.qname,) if found else (_raw_name(table),)

    def _scope_tables(self, scope: Scope) -> tuple[str, ...]:
        key = id(scope)
        done = self._base_tables.get(key)
        if done is not None:
            return done
        self._base_tables[key] = ()  # cycle guard for recursive CTEs
        found: set[str] = set()
        children = list(scope.set_operation_scopes) + list(scope.subquery_scopes)
        for _, source in scope.selected_sources.values():
            if isinstance(source, exp.Table):
                found.update(self._table_names(source))
            else:
                children.append(source)
        children += scope.udtf_scopes
        for child in children:
            found.update(self._scope_tables(child))
        result = tuple(sorted(found))
        self._base_tables[key] = result
        return result

    def _group_keys(self, scope: Scope) -> None:
        node = scope.expression
        if not isinstance(node, exp.Select):
            return
        if node.args.get("group") is None:
            return
        self.has_group_by = True
        self._sink = []
        try:
            for key in group_keys_of(node):
                self._expr(key, scope, "grouped")
            self.group_by.update(f"{f.table}.{f.column}" for f in self._sink)
        finally:
            self._sink = None

    # ---- accumulation --------------------------------------------------------------------------

    def _use(self, flow: Flow, usage: Usage) -> None:
        use = self.columns.get((flow.table, flow.column))
        if use is None:
            use = self.columns[(flow.table, flow.column)] = ColumnUse()
        use.usages.add(usage)
        if usage in ("projected", "aggregated"):
            use.aggregates.update(flow.aggs)
            use.transforms.update(flow.transforms)

    def _unsupported(self, construct: str, detail: str) -> None:
        fact = Unsupported(construct=construct, detail=detail)
        if fact not in self.unsupported:
            self.unsupported.append(fact)


def _alias_columns(node: exp.Expr) -> list[str]:
    alias = node.args.get("alias")
    return [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []


def _raw_name(table: exp.Table) -> str:
    return ".".join(p.name for p in table.parts).lower()


def _short(node: exp.Expr) -> str:
    text = node.sql()
    return text if len(text) <= 60 else text[:57] + "..."
