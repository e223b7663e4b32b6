"""The shape of a query, read from its qualified tree: grouping, aggregation and join predicates.

These answer structural questions the lineage walk and the facts need — is this select an
aggregate query, what does it group by, is this conjunct a join condition, is this aggregate a
window — without tracing any column to its source.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, walk_in_scope

WINDOW_WRAPPERS = (exp.Filter, exp.IgnoreNulls, exp.RespectNulls)


def conjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def is_join_predicate(node: exp.Expr) -> bool:
    """``a.x = b.y`` (or another comparison) between columns of two different sources."""
    if not isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE | exp.NullSafeEQ):
        return False
    left = {c.table for c in walk_in_scope(node.this) if isinstance(c, exp.Column)}
    right = {c.table for c in walk_in_scope(node.expression) if isinstance(c, exp.Column)}
    return bool(left) and bool(right) and left.isdisjoint(right)


def group_expressions(group: exp.Group) -> list[exp.Expr]:
    """GROUP BY keys, flattening ROLLUP / CUBE / GROUPING SETS; positional literals are skipped."""
    pending = list(group.expressions)
    for arg in ("grouping_sets", "cube", "rollup"):
        pending.extend(group.args.get(arg) or [])
    keys: list[exp.Expr] = []
    while pending:
        key = pending.pop(0)
        if isinstance(key, exp.Rollup | exp.Cube | exp.GroupingSets | exp.Tuple):
            pending.extend(key.expressions)
        elif isinstance(key, exp.Paren):
            pending.append(key.this)
        elif not (isinstance(key, exp.Literal) and key.is_int):
            keys.append(key)
    return keys


def group_keys_of(select: exp.Select) -> list[exp.Expr]:
    """GROUP BY keys; DuckDB's ``GROUP BY ALL`` groups by every projection without an aggregate."""
    group = select.args.get("group")
    if group is None:
        return []
    if group.args.get("all"):
        return [p.unalias() for p in select.selects
                if not any(is_aggregation(n) for n in walk_in_scope(p))]
    return group_expressions(group)


def join_kind(join: exp.Join) -> str:
    kind = (join.args.get("kind") or "").lower()
    side = (join.args.get("side") or "").lower()
    if isinstance(join.this, exp.Lateral):
        return "lateral"
    if kind in ("semi", "anti"):
        return kind
    if side:
        return side
    if kind == "cross" or (join.args.get("on") is None and not join.args.get("using")):
        return "cross"
    return "inner"


def windowed(node: exp.Expr) -> bool:
    parent = node.parent
    while isinstance(parent, WINDOW_WRAPPERS):
        parent = parent.parent
    return isinstance(parent, exp.Window)


def aggregate_level(root: Scope) -> list[Scope]:
    """The scopes whose rows the result is: the root, or what a pass-through wrapper selects from.

    BI tools wrap queries (``SELECT * FROM (<query>) AS virtual_table LIMIT 1000``); a wrapper
    with one derived source, no joins and no aggregation of its own returns its source's rows.
    """
    scope = root
    while True:
        node = scope.expression
        if isinstance(node, exp.SetOperation):
            return [s for branch in scope.set_operation_scopes for s in aggregate_level(branch)]
        if isinstance(node, exp.Subquery):
            inner = scope.table_scopes or scope.subquery_scopes
            if not inner:
                return []
            scope = inner[0]
            continue
        if not isinstance(node, exp.Select):
            return []
        if node.args.get("group") is not None or has_aggregate(node) or node.args.get("joins"):
            return [scope]
        sources = list(scope.selected_sources.values())
        if len(sources) == 1 and isinstance(sources[0][1], Scope):
            scope = sources[0][1]
            continue
        return [scope]


def is_aggregation(node: exp.Expr) -> bool:
    """A grouping aggregate (not a window), including its WITHIN GROUP / FILTER wrapper."""
    if isinstance(node, exp.WithinGroup | exp.Filter) and isinstance(node.this, exp.AggFunc):
        return not windowed(node)
    return isinstance(node, exp.AggFunc) and not windowed(
        node.parent if isinstance(node.parent, exp.WithinGroup | exp.Filter) else node)


def has_aggregate(select: exp.Select) -> bool:
    return any(is_aggregation(n) for proj in select.selects for n in walk_in_scope(proj))


def is_aggregate(scope: Scope) -> bool:
    """Every output is an aggregate, a group key, or built only from those and constants."""
    node = scope.expression
    if not isinstance(node, exp.Select):
        return False
    keys = set(group_keys_of(node))
    if not keys and not has_aggregate(node):
        return False
    for proj in node.selects:
        for col in walk_in_scope(proj.unalias(), prune=lambda n: n in keys or is_aggregation(n)):
            if isinstance(col, exp.Column | exp.TableColumn) and col not in keys:
                return False
    return True
