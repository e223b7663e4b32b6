"""HAVING / ORDER BY over released cells: a tiny evaluator for comparisons and arithmetic.

These clauses run after the noise, in Python, on noisy values; running them upstream on true values
would leak through which groups survive. Only a small, total language is accepted (comparisons,
AND/OR/NOT, + - * /, literals, keys, output aliases and the query's aggregates), checked when the plan
is built so the denial comes before any budget is spent.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp

from .errors import DpError

_BINARY: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.EQ: operator.eq, exp.NEQ: operator.ne, exp.GT: operator.gt, exp.GTE: operator.ge,
    exp.LT: operator.lt, exp.LTE: operator.le, exp.Add: operator.add, exp.Sub: operator.sub,
    exp.Mul: operator.mul,
}


def _is_agg(node: exp.Expression) -> bool:
    return isinstance(node, exp.AggFunc | exp.WithinGroup)


def check_expression(expr: exp.Expression, aggs: set[str], keys: set[str], outputs: set[str]) -> None:
    """Raise ``dp_unsupported_clause`` unless ``evaluate`` can compute expr over released cells."""
    if _is_agg(expr):
        if expr.sql() not in aggs:
            raise DpError(f"{expr.sql()} is not planned", code="dp_unsupported_clause")
        return
    if isinstance(expr, exp.Column):
        if expr.sql() in keys or (not expr.table and expr.name.lower() in outputs):
            return
        raise DpError(f"{expr.sql()} in HAVING/ORDER BY is neither a GROUP BY key, an output column nor an "
                      "aggregate; after noise only released cells can be filtered or sorted",
                      code="dp_unsupported_clause")
    if isinstance(expr, exp.Literal | exp.Boolean | exp.Null):
        return
    if isinstance(expr, (exp.And, exp.Or, exp.Div, *_BINARY)):
        check_expression(expr.this, aggs, keys, outputs)
        check_expression(expr.expression, aggs, keys, outputs)
        return
    if isinstance(expr, exp.Not | exp.Paren | exp.Neg):
        check_expression(expr.this, aggs, keys, outputs)
        return
    raise DpError(f"{expr.sql()}: HAVING/ORDER BY under DP may use comparisons, AND/OR/NOT, + - * /, literals, "
                  "GROUP BY keys, output aliases and aggregates", code="dp_unsupported_clause")


def evaluate(expr: exp.Expression, env: Mapping[str, Any]) -> Any:
    """Value of a checked expression; ``env`` maps aggregate/key SQL and lower-case output names."""
    if _is_agg(expr) or (isinstance(expr, exp.Column) and expr.sql() in env):
        return env[expr.sql()]
    if isinstance(expr, exp.Column):
        return env[expr.name.lower()]
    if isinstance(expr, exp.Literal):
        if expr.is_string:
            return expr.this
        return float(expr.this) if any(c in expr.this for c in ".eE") else int(expr.this)
    if isinstance(expr, exp.Boolean):
        return bool(expr.this)
    if isinstance(expr, exp.Null):
        return None
    if isinstance(expr, exp.Paren):
        return evaluate(expr.this, env)
    if isinstance(expr, exp.Not):
        value = evaluate(expr.this, env)
        return None if value is None else not value
    if isinstance(expr, exp.Neg):
        value = evaluate(expr.this, env)
        return None if value is None else -value
    left, right = evaluate(expr.this, env), evaluate(expr.expression, env)
    if isinstance(expr, exp.And):
        return bool(left) and bool(right)
    if isinstance(expr, exp.Or):
        return bool(left) or bool(right)
    if left is None or right is None:
        return None
    if isinstance(expr, exp.Div):
        return None if right == 0 else left / right
    return _BINARY[type(expr)](left, right)
