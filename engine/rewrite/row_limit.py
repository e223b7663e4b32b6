"""Rule: cap the number of rows the statement returns.

Only the outermost query is capped: an inner LIMIT bounds an intermediate result, not what leaves.
A literal ``LIMIT k`` / ``FETCH FIRST k ROWS ONLY`` becomes ``min(k, n)`` in place (OFFSET kept); a set
operation gets its own trailing LIMIT. Anything whose row count we cannot read as a plain integer
(``LIMIT $1``, ``FETCH ... WITH TIES``, ``PERCENT``) is wrapped:
``SELECT * FROM (<query>) AS _privgate_limited LIMIT n`` — same columns, same order. The generator
renders LIMIT in each dialect's own syntax (TOP, FETCH FIRST) and raises when it cannot.
"""

from __future__ import annotations

from sqlglot import exp

from .plan import RewriteContext

WRAP_ALIAS = "_privgate_limited"


def _literal_int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None


def _cap_in_place(query: exp.Query, n: int) -> bool:
    """Lower an existing plain literal limit to ``n``; True when the query is now capped."""
    limit = query.args.get("limit")
    if limit is None:
        query.set("limit", exp.Limit(expression=exp.Literal.number(n)))
        return True
    options = limit.args.get("limit_options")
    if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
        return False
    if isinstance(limit, exp.Limit) and not limit.args.get("expressions"):
        current = _literal_int(limit.expression)
        if current is not None:
            limit.set("expression", exp.Literal.number(min(current, n)))
            return True
    if isinstance(limit, exp.Fetch):
        count = limit.args.get("count")
        current = 1 if count is None else _literal_int(count)
        if current is not None:
            limit.set("count", exp.Literal.number(min(current, n)))
            return True
    return False


def row_limit(expression: exp.Expr, ctx: RewriteContext) -> exp.Expr:
    n = ctx.plan.limit
    if n is None:
        return expression
    while isinstance(expression, exp.Subquery) and isinstance(expression.this, exp.Query) \
            and not any(v for k, v in expression.args.items() if k != "this"):  # plain parentheses
        expression = expression.this
        expression.pop()
    if isinstance(expression, exp.Select | exp.SetOperation) and _cap_in_place(expression, n):
        return expression
    wrapped = exp.Subquery(this=expression, alias=exp.TableAlias(this=exp.to_identifier(WRAP_ALIAS)))
    return exp.Select(expressions=[exp.Star()]).from_(wrapped, copy=False).limit(n, copy=False)
