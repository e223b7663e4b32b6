"""Rule: mask columns inside the derived tables ``isolate_sources`` created.

The masked value keeps the column's name, so every outer reference (``c.email``, ``USING (email)``,
``GROUP BY email``) now reads the masked value. Methods, all computed in the warehouse:

- ``hash``: lower-case hex HMAC-SHA256 of the value as text, keyed by the mask key (see keyed_hash).
  Equal values hash equally, so joins and GROUP BY on the column keep working. NULL stays NULL.
- ``tokenize``: ``'tok_'`` + the first 16 hex characters of an HMAC under a key derived from the mask
  key: a short opaque token, not comparable with ``hash`` output. NULL stays NULL.
- ``redact``: reveals nothing, not even whether the value was NULL. Text columns become the constant
  ``'[REDACTED]'``; other types become ``CAST(NULL AS <type>)``, because no constant of, say, a date
  type can say "redacted" and the column must keep its type for the outer query to type-check.

Hashed and tokenized columns become text whatever their declared type.

Speed: a masked value's SQL depends only on (dialect, method, column), never on the request, so it is
generated once (unsupported constructs raising) and placed in the tree as an opaque leaf (``exp.Var``,
emitted verbatim): building and generating the ~25-node HMAC expression per reference cost ~0.3 ms.
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import ErrorLevel, exp
from sqlglot.errors import ParseError, SqlglotError

from ..catalog import Column
from ..errors import RewriteError
from .isolate_sources import isolated_sources
from .keyed_hash import TOKEN_HEX_CHARS, TOKEN_PREFIX, KeyPads, hmac_hex
from .plan import RewriteContext

REDACTED = "[REDACTED]"


def _null_safe(value: exp.Expr, masked: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())],
                    default=masked)


def _type(column: Column, key: str) -> exp.DataType:
    try:
        return exp.DataType.build(column.type)
    except (ParseError, ValueError) as exc:
        raise RewriteError(f"cannot redact {key}.{column.name}: its catalog type {column.type!r} is not a "
                           f"SQL type sqlglot understands ({exc})", code="rewrite_unknown_type") from exc


def masked_value(value: exp.Column, column: Column, method: str, pads: KeyPads | None, dialect: str,
                 key: str) -> exp.Expr:
    """The SQL that replaces ``value`` (a reference to ``column``) under ``method``."""
    if method == "redact":
        dtype = _type(column, key)
        if dtype.is_type(*exp.DataType.TEXT_TYPES):
            return exp.Literal.string(REDACTED)
        return exp.Cast(this=exp.Null(), to=dtype)
    if pads is None:
        raise RewriteError(f"no key pads for mask method {method!r}", code="rewrite_mask_key_missing")
    digest = hmac_hex(value.copy(), pads, dialect)
    if method == "tokenize":
        digest = exp.DPipe(this=exp.Literal.string(TOKEN_PREFIX),
                           expression=exp.Substring(this=digest, start=exp.Literal.number(1),
                                                    length=exp.Literal.number(TOKEN_HEX_CHARS)))
    return _null_safe(value, digest)


@lru_cache(maxsize=4096)
def masked_sql(dialect: str, method: str, name: str, type_: str, key: str, pads: KeyPads | None) -> str:
    """Generated SQL of ``masked_value`` for a plain reference to a column; holds no key material."""
    column = Column(name=name, type=type_)
    value = exp.Column(this=exp.to_identifier(name))
    try:
        return masked_value(value, column, method, pads, dialect, key).sql(
            dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise RewriteError(f"cannot generate the {method} mask of {key}.{column.name} in {dialect!r}: {exc}",
                           code="rewrite_generation_failed") from exc


def mask(expression: exp.Expr, ctx: RewriteContext) -> exp.Expr:
    for select, key in isolated_sources(expression):
        plan = ctx.plan.tables[key]
        if not plan.masks:
            continue
        projections = []
        for proj in select.expressions:
            method = plan.masks.get(proj.alias_or_name.lower())
            if method is None or not isinstance(proj, exp.Column):
                projections.append(proj)
                continue
            column = plan.table.column(proj.name)
            if column is None:  # plan columns are validated against the catalog; never expected
                raise RewriteError(f"{key} has no column {proj.name!r}", code="rewrite_unknown_column")
            sql = masked_sql(ctx.dialect, method, column.name, column.type, key, ctx.pads.get(method))
            projections.append(exp.Alias(this=exp.Var(this=sql), alias=proj.this.copy()))
        select.set("expressions", projections)
    return expression
