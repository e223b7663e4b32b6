"""Conventional SQL names for sqlglot function nodes, so the allow-list reads like SQL.

sqlglot turns most calls into typed nodes (``COUNT`` -> ``exp.Count``) and keeps the rest as
``exp.Anonymous`` with the name as written. A node's ``sql_name()`` is usually the conventional
name; where sqlglot's canonical class has an internal name (``StrPosition``, ``LogicalAnd``,
``ExplodingGenerateSeries``) the table below maps it back. Names are lower case; a
schema-qualified call (``pg_catalog.pg_read_file(...)``) keeps its qualifier so it can never pass as
an allowed bare name.
"""

from __future__ import annotations

from sqlglot import exp

_OVERRIDES: dict[type[exp.Expr], str] = {
    exp.StrPosition: "strpos",
    exp.LogicalAnd: "bool_and",
    exp.LogicalOr: "bool_or",
    exp.ArraySize: "array_length",
    exp.ExplodingGenerateSeries: "generate_series",
    exp.Explode: "unnest",
    exp.UnixToTime: "to_timestamp",
    exp.TimeToUnix: "epoch",
    exp.CurrentVersion: "version",
    exp.SHA2Digest: "sha2",
    exp.MD5Digest: "md5",
    exp.TsOrDsToDate: "to_date",
    exp.TimestampDiff: "timestamp_diff",
    exp.ApproxQuantile: "approx_percentile",
    exp.GroupConcat: "string_agg",
}

#: Nodes that are ``exp.Func`` in sqlglot but are operators, not function calls, in SQL.
OPERATORS: tuple[type[exp.Expr], ...] = (exp.Connector,)


def function_name(node: exp.Func) -> str:
    """Lower-case conventional name of a function call node."""
    if isinstance(node, exp.Anonymous):
        ident = node.this
        if isinstance(ident, exp.Identifier):  # a quoted name keeps its case: "LOWER" is not lower
            text = str(ident.this)
            name = text if ident.quoted else text.lower()
        else:
            name = str(ident).lower()
    elif isinstance(node, exp.Pad):
        name = "lpad" if node.args.get("is_left") else "rpad"
    else:
        name = _OVERRIDES.get(type(node)) or node.sql_name().lower()
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return f"{parent.this.sql().lower()}.{name}"
    return name
