"""The session's upstream state the analyzer depends on: pinning and the search path.

A forwarded SET/RESET/DISCARD/DEALLOCATE leaves state in the upstream backend, so the session keeps its
connection (pinned). ``SET search_path`` also changes what an unqualified name means: the session keeps the
client's path and hands it to the analyzer (``Request.search_path``), so the policy judges the table that
runs. The new path applies at once to statements planned after the SET (pipelines); once the session is
outside a transaction again, the upstream's real value is read back, because a ROLLBACK, a SET LOCAL or a
failed SET decide what it ends up being.
"""

from __future__ import annotations

from .classify import parse_search_path
from .govern import Plan
from .session_base import SessionBase


class SearchPathTracking(SessionBase):
    """Pinning and the session's search path."""

    def _pin_if_stateful(self, plan: Plan) -> None:
        if plan.pin:
            self.pinned = True
        c = plan.classified
        if c is not None and c.kind == "session" and c.value in ("SET", "RESET", "DISCARD", "DEALLOCATE"):
            self.pinned = True
            if c.setting == "search_path" or (c.value in ("RESET", "DISCARD") and _resets_all(plan.sql)):
                # Statements planned after this one (a pipeline) see the new path at once; the upstream's
                # value is re-read once the transaction is over (a rollback or SET LOCAL undoes it).
                self.search_path = c.path
                self._path_dirty = True

    def _analyzer_path(self) -> tuple[str, ...] | None:
        """The session's search path as the analyzer needs it: ``$user`` is the proxy's upstream login."""
        if self.search_path is None:
            return None
        return tuple(self.pool.target.user if s == "$user" else s for s in self.search_path)

    async def _settle_search_path(self) -> None:
        """Outside a transaction, read the search_path the upstream really has after a change (COMMIT,
        ROLLBACK, SET LOCAL and failed SETs all decide it). Unchanged from the session default → None."""
        up = self.up
        if not self._path_dirty or up is None or up.status != "I" or self._expect or self._up_out:
            return
        rows = await up.simple("SELECT setting, reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path'")
        setting, reset = rows[0] if rows else (None, None)
        if setting is None or setting == reset:
            self.search_path = None
        else:  # a value privgate cannot read resolves no unqualified name at all (fail closed)
            self.search_path = parse_search_path(setting) or ("",)
        self._path_dirty = False


def _resets_all(sql: str) -> bool:
    """RESET ALL / DISCARD ALL: the search_path returns to its default too."""
    words = sql.upper().replace(";", " ").split()
    return words[:2] in (["RESET", "ALL"], ["DISCARD", "ALL"])

