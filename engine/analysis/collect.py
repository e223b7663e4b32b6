"""Facts read straight off the parsed tree, before qualification rewrites it.

Functions, stars, set operations, CTE names, subqueries and the constructs the analyzer will not
vouch for are collected here from the tree as written: qualification adds nodes of its own (USING
becomes ``COALESCE``, ``*`` becomes a column list) that the person never wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ..facts import Unsupported
from .names import OPERATORS, function_name

#: SET targets that change what later statements read or who runs them; never a harmless session knob.
_SENSITIVE_SETTINGS = ("search_path", "role", "session_authorization", "authorization")


@dataclass
class Collected:
    functions: set[str] = field(default_factory=set)
    window_functions: set[str] = field(default_factory=set)
    set_operations: set[str] = field(default_factory=set)
    ctes: list[str] = field(default_factory=list)
    subquery_count: int = 0
    has_star: bool = False
    unsupported: list[Unsupported] = field(default_factory=list)
    #: Table and CTE nodes of the statement, gathered in the same walk so later steps need none.
    #: Qualification edits these nodes in place, so they stay valid for the qualified tree.
    table_nodes: list[exp.Table] = field(default_factory=list)
    cte_nodes: list[exp.CTE] = field(default_factory=list)

    def flag(self, construct: str, detail: str) -> None:
        fact = Unsupported(construct=construct, detail=detail)
        if fact not in self.unsupported:
            self.unsupported.append(fact)


def nodes_of(statement: exp.Expr) -> tuple[list[exp.Table], list[exp.CTE]]:
    """Table and CTE nodes of a tree (for a tree that ``collect`` did not walk)."""
    tables: list[exp.Table] = []
    ctes: list[exp.CTE] = []
    for node in statement.walk():
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.CTE):
            ctes.append(node)
    return tables, ctes


def collect(statement: exp.Expr, allowed_functions: frozenset[str], out: Collected) -> None:
    """Add what ``statement`` shows on its face to ``out``."""
    if isinstance(statement, exp.Command):
        _command(statement, out)
        return
    if isinstance(statement, exp.Set):
        for item in statement.expressions:
            _setting(item.sql().lower(), out)
    for node in statement.walk():
        if isinstance(node, exp.Exists) and isinstance(node.this, exp.Query):
            out.subquery_count += 1
        if isinstance(node, exp.Func) and not isinstance(node, OPERATORS) and not (
                isinstance(node, exp.If) and isinstance(node.parent, exp.Case)):
            name = function_name(node)
            out.functions.add(name)
            if isinstance(node.parent, exp.Window) and node.parent.this is node:
                out.window_functions.add(name)
            if isinstance(node, exp.Columns):
                out.flag("dynamic_columns", "COLUMNS(...) picks columns by pattern at run time")
            if _is_table_function(node) and name not in allowed_functions:
                out.flag("table_function", f"{name}(...) in FROM returns rows the analyzer cannot trace")
        elif isinstance(node, exp.SetOperation):
            out.set_operations.add(_set_operation_name(node))
        elif isinstance(node, exp.Table):
            out.table_nodes.append(node)
        elif isinstance(node, exp.CTE):
            out.cte_nodes.append(node)
            if node.alias and node.alias not in out.ctes:
                out.ctes.append(node.alias)
        elif isinstance(node, exp.With) and node.args.get("recursive"):
            out.flag("recursive_cte",
                     "WITH RECURSIVE: the recursive member's lineage is traced once, not to a fixpoint")
        elif isinstance(node, exp.Subquery):
            if not _is_wrapper(node, statement):
                out.subquery_count += 1
        elif isinstance(node, exp.Star):
            if not isinstance(node.parent, exp.Func):
                out.has_star = True
        elif isinstance(node, exp.Select):
            if node.args.get("into") is not None:
                out.flag("select_into", "SELECT ... INTO creates a table")
            if node.args.get("locks"):
                out.flag("locking_clause", "FOR UPDATE/SHARE takes row locks")
            if node.args.get("connect") is not None:
                out.flag("connect_by", "CONNECT BY hierarchical queries are not traced")
        elif isinstance(node, exp.Pivot):
            out.flag("pivot", "PIVOT/UNPIVOT column lineage is not traced")
        elif isinstance(node, exp.MatchRecognize):
            out.flag("match_recognize", "MATCH_RECOGNIZE is not traced")
        elif isinstance(node, exp.Into):
            out.flag("select_into", "SELECT ... INTO creates a table")


def _command(statement: exp.Command, out: Collected) -> None:
    """Statements sqlglot keeps as raw text: the analyzer cannot see inside them."""
    head = str(statement.this).upper()
    body = statement.expression.sql() if isinstance(statement.expression, exp.Expr) else str(
        statement.expression or "")
    if head in ("SET", "RESET"):
        _setting(body.lower(), out, raw=True)
        return
    if head in ("SHOW", "BEGIN", "START", "END", "ABORT", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK"):
        return
    text = f"{head} {body}".strip()
    out.flag("command", f"{text[:80]}{'...' if len(text) > 80 else ''} is not analyzable SQL")


def _setting(text: str, out: Collected, raw: bool = False) -> None:
    text = text.strip()
    if any(text.startswith(s) or f" {s}" in f" {text}" for s in _SENSITIVE_SETTINGS) or (
            raw and text.startswith("session")):
        out.flag("session_setting",
                 f"SET {text[:60]} changes name resolution or identity for later statements")


def _is_table_function(node: exp.Func) -> bool:
    parent = node.parent
    if isinstance(parent, exp.Table) and parent.this is node:
        return True
    return isinstance(node, exp.UDTF) and isinstance(parent, exp.From | exp.Join)


def _set_operation_name(node: exp.SetOperation) -> str:
    if isinstance(node, exp.Union):
        return "union" if node.args.get("distinct") else "union_all"
    if isinstance(node, exp.Intersect):
        return "intersect"
    return "except"


def _is_wrapper(node: exp.Subquery, statement: exp.Expr) -> bool:
    """Parentheses around a whole statement or a set-operation branch are not subqueries."""
    return node is statement or isinstance(node.parent, exp.SetOperation | exp.Insert | exp.Create | exp.Copy)
