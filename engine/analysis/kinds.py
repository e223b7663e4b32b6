"""Statement kinds: what a statement does, decided by its root node, and which kind is riskiest.

A multi-statement request reports the *most dangerous* kind among its statements (``RISK_ORDER``),
so ``SELECT 1; DROP TABLE t`` is ``ddl`` and a policy keyed on the kind cannot be fooled by a
harmless first statement. Statements sqlglot could only keep as raw text (``exp.Command``: DO
blocks, CALL, VACUUM, EXPLAIN, ...) are ``command``, except the session commands it did not model
(SHOW, SET ROLE, RESET, BEGIN variants), which keep their own kinds.
"""

from __future__ import annotations

from sqlglot import exp

from ..facts import StatementKind

#: Riskiest first; the merged kind of several statements is the first of theirs in this order.
RISK_ORDER: tuple[StatementKind, ...] = (
    "unknown", "command", "copy", "ddl", "merge", "delete", "update", "insert", "set",
    "transaction", "show", "select", "empty",
)

_BY_TYPE: tuple[tuple[type[exp.Expression] | tuple[type[exp.Expression], ...], StatementKind], ...] = (
    ((exp.Select, exp.SetOperation, exp.Subquery, exp.Values), "select"),
    (exp.Insert, "insert"),
    (exp.Update, "update"),
    (exp.Delete, "delete"),
    (exp.Merge, "merge"),
    (exp.Copy, "copy"),
    ((exp.Set, exp.Use), "set"),
    ((exp.Transaction, exp.Commit, exp.Rollback), "transaction"),
    ((exp.Show, exp.Describe), "show"),
    ((exp.Create, exp.Drop, exp.Alter, exp.TruncateTable, exp.Grant, exp.Revoke, exp.Comment,
      exp.RenameColumn, exp.AlterRename), "ddl"),
    ((exp.Command, exp.Pragma, exp.Attach, exp.Detach, exp.Install, exp.Analyze, exp.Cache,
      exp.Uncache, exp.Kill, exp.Refresh, exp.LoadData), "command"),
)

_COMMAND_KINDS: dict[str, StatementKind] = {
    "SHOW": "show", "SET": "set", "RESET": "set", "BEGIN": "transaction", "START": "transaction",
    "END": "transaction", "ABORT": "transaction", "SAVEPOINT": "transaction", "RELEASE": "transaction",
    "COMMIT": "transaction", "ROLLBACK": "transaction",
}


def statement_kind(node: exp.Expression) -> StatementKind:
    """The kind of one parsed statement; anything unrecognised is ``unknown``."""
    if isinstance(node, exp.Command):
        return _COMMAND_KINDS.get(str(node.this).upper(), "command")
    for types, kind in _BY_TYPE:
        if isinstance(node, types):
            return kind
    return "unknown"


def riskiest(kinds: list[StatementKind]) -> StatementKind:
    if not kinds:
        return "empty"
    return min(kinds, key=RISK_ORDER.index)
