"""Obligations as rewrites over sqlglot trees.

``Rewriter.apply`` turns the policy's obligations into SQL the warehouse can run as is. Each rewrite is
a plain function ``(Expression, RewriteContext) -> Expression`` in its own module, applied in the order
of ``RULES`` (the sqlglot optimizer's habit):

1. ``isolate_sources`` — every reference to a governed table becomes a derived table over it that
   exposes the same column names, wherever the reference sits (FROM, JOIN, CTE, subquery, set op).
2. ``mask`` — hash / tokenize / redact columns inside those derived tables.
3. ``row_filter`` — consent predicates inside those derived tables.
4. ``row_limit`` — cap the outermost query's row count.

Applying masks and filters at the source means no clause of the user's query has to be understood for
the rewrite to be safe, and CTE or UNION tricks cannot route around them. Keyed masking is computed in
the warehouse with the key's HMAC pads as bind parameters: ``Rewritten.sql`` is safe to show and store,
``Rewritten.params`` is secret. ``dp`` obligations pass through (the DP planner rewrites them).
Anything that cannot be applied exactly raises ``RewriteError`` with a stable ``rewrite_*`` code; SQL is
always generated with unsupported constructs raising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlglot import ErrorLevel, exp
from sqlglot.errors import SqlglotError

from ..analysis import Analysis
from ..catalog import Catalog
from ..decision import Obligation
from ..errors import RewriteError
from .isolate_sources import isolate_sources, isolated_sources
from .keyed_hash import KeyPads, derive_pads, placeholder_pads, tokenize_key
from .mask import mask
from .plan import CatalogIndex, RewriteContext, build_plan
from .row_filter import row_filter
from .row_limit import row_limit

__all__ = ["RULES", "RewriteContext", "Rewriter", "Rewritten", "Rule"]

Rule = Callable[[exp.Expr, RewriteContext], exp.Expr]
RULES: tuple[Rule, ...] = (isolate_sources, mask, row_filter, row_limit)

_RESERVED_PREFIX = "privgate_"
# Statements (or parts of them) that write or define things: a rewrite of them is never a safe read.
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy,
           exp.Command, exp.Into)


@dataclass(frozen=True)
class Rewritten:
    """Display-safe SQL plus the bind values its placeholders need.

    Placeholders are in the dialect's named style as sqlglot renders them (postgres ``%(name)s``,
    duckdb ``$name``, snowflake/trino ``:name``, bigquery ``@name``); ``params`` has exactly the names
    the SQL uses (DuckDB rejects extras). Executors adapt to their driver: psycopg reads every ``%`` as
    placeholder syntax, so ``%`` elsewhere (``LIKE 'a%'``) must be doubled; Trino's client binds ``?``.
    ``params`` holds key material (HMAC pads): bind it, never log or store it (kept out of ``repr``).
    """

    sql: str
    params: dict[str, str] = field(default_factory=dict, repr=False)
    key_error: RewriteError | None = field(default=None, repr=False, compare=False)

    def bind_params(self) -> dict[str, str]:
        """The values to bind when executing; raises when the SQL needs a mask key nobody configured."""
        if self.key_error is not None:  # a fresh error: raising the stored one would attach a traceback
            raise RewriteError(self.key_error.message, code=self.key_error.code)
        return self.params


def _generate(expression: exp.Expr, dialect: str) -> str:
    try:
        return expression.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, copy=False)
    except SqlglotError as exc:
        raise RewriteError(f"could not generate the rewritten SQL for dialect {dialect!r}: {exc}",
                           code="rewrite_generation_failed") from exc


def _check_statement(analysis: Analysis) -> exp.Query:
    if len(analysis.trees) != 1:
        raise RewriteError("obligations can only be applied to exactly one statement, "
                           f"got {len(analysis.trees)}", code="rewrite_multiple_statements")
    tree = analysis.trees[0]
    if not isinstance(tree, exp.Query):
        raise RewriteError(f"obligations can only be applied to a query, not {tree.key.upper()}",
                           code="rewrite_unsupported_statement")
    for node in tree.walk():
        if isinstance(node, _WRITES):
            raise RewriteError(f"the query contains {node.key.upper()}, which writes or defines objects; "
                               "obligations can only be applied to read-only queries",
                               code="rewrite_unsupported_statement")
        if isinstance(node, exp.Placeholder) and node.name.lower().startswith(_RESERVED_PREFIX):
            raise RewriteError(f"parameter names starting with {_RESERVED_PREFIX!r} are reserved for "
                               "privgate", code="rewrite_reserved_name")
    return tree


class Rewriter:
    """Applies obligations for one catalog; holds the mask key's pads (derived once), no request state."""

    def __init__(self, catalog: Catalog, *, mask_key: bytes) -> None:
        self.catalog = catalog
        self._index = CatalogIndex(catalog)
        self._pads: dict[str, KeyPads] = {}
        self._key_error: RewriteError | None = None
        try:
            self._pads = {"hash": derive_pads(mask_key, "hash"),
                          "tokenize": derive_pads(tokenize_key(mask_key), "tok")}
        except RewriteError as exc:  # only fatal when a keyed method must actually execute
            # kept without its traceback: frames point back (f_back) to whoever built this Rewriter,
            # and a stored traceback would tie the whole engine into a reference cycle
            self._key_error = exc.with_traceback(None)
            self._pads = {"hash": placeholder_pads("hash"), "tokenize": placeholder_pads("tok")}

    def context(self, obligations: Sequence[Obligation], dialect: str, *, require_key: bool = True
                ) -> RewriteContext:
        """Validate ``obligations`` into a plan and the context the rules read."""
        plan = build_plan(obligations, self._index)
        keyed = sorted(plan.methods & {"hash", "tokenize"})
        if keyed and require_key and self._key_error is not None:
            raise RewriteError(self._key_error.message, code=self._key_error.code)
        return RewriteContext(plan=plan, dialect=dialect, index=self._index,
                              pads={m: self._pads[m] for m in keyed})

    def apply(self, analysis: Analysis, obligations: Sequence[Obligation], dialect: str, *,
              require_key: bool = True) -> Rewritten:
        """Rewrite the analysed statement so it satisfies ``obligations``; never mutates ``analysis``.

        With ``require_key=False`` a missing mask key does not fail the rewrite: the SQL (which only
        holds placeholders) is still produced for review, and ``bind_params()`` raises at execution.
        """
        ctx = self.context(obligations, dialect, require_key=require_key)
        expression: exp.Expr = _check_statement(analysis).copy()
        try:
            for rule in RULES:
                expression = rule(expression, ctx)
        except SqlglotError as exc:
            raise RewriteError(f"could not apply obligations: {exc}", code="rewrite_failed") from exc
        # bind only the pads the SQL uses: some drivers (DuckDB) reject unused named parameters
        used = {m for _s, key in isolated_sources(expression) for m in ctx.plan.tables[key].masks.values()}
        params = {k: v for m, p in ctx.pads.items() if m in used for k, v in p.params().items()}
        missing = self._key_error if self._key_error is not None and used & {"hash", "tokenize"} else None
        return Rewritten(sql=_generate(expression, dialect), params={} if missing else params, key_error=missing)
