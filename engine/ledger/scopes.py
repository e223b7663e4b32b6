"""Scope names: ``kind:name`` strings that say which budgets a charge draws on.

A charge lists every scope it touches and must fit all of them. The standard kinds:

    subject:<namespace>   everyone behind a privacy-unit namespace (catalog ``privacy_unit.namespace``),
                          across all principals and datasets: the guarantee a person actually gets
    dataset:<schema.table>  one table;   domain:<name>  one data-mesh domain
    principal:<id>        one caller;    group:<role>   everyone holding a role
    class:<query class>   one query class (``rules.dp.classes``)

Any other ``kind:name`` is allowed; config rules decide which scopes have budgets.
"""

from __future__ import annotations

from collections.abc import Iterable


def scopes_for(principal: str, *, query_class: str | None = None, groups: Iterable[str] = (),
               datasets: Iterable[str] = (), domains: Iterable[str] = (),
               subjects: Iterable[str] = ()) -> tuple[str, ...]:
    """The scopes of one request, sorted and deduplicated (the order accounts are locked in)."""
    scopes = {f"principal:{principal}"}
    scopes.update(f"group:{g}" for g in groups)
    scopes.update(f"dataset:{d}" for d in datasets)
    scopes.update(f"domain:{d}" for d in domains)
    scopes.update(f"subject:{s}" for s in subjects)
    if query_class:
        scopes.add(f"class:{query_class}")
    return tuple(sorted(scopes))
