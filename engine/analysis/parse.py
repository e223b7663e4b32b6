"""Parsing: SQL text to sqlglot statements, or a ParseError that says where the SQL went wrong.

Comments never hide statements: sqlglot's tokenizer drops comments (``--``, ``/* */``) and keeps
string literals and dollar-quoted bodies whole, so ``SELECT 1; -- x\\n DROP TABLE t`` is two
statements and ``SELECT ';'`` is one. A statement made only of a comment parses to
``exp.Semicolon`` and empty statements (``;;``) to ``None``: both are dropped here.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError

from ..errors import ParseError


def parse_statements(sql: str, dialect: Dialect) -> list[exp.Expression]:
    """Every non-empty statement of ``sql``, in order."""
    try:
        parsed = dialect.parse(sql)
    except SqlglotParseError as exc:
        raise ParseError(_describe(exc), code="analysis_parse_error") from exc
    except TokenError as exc:
        raise ParseError(f"the SQL could not be tokenized: {exc}", code="analysis_parse_error") from exc
    except RecursionError as exc:
        raise ParseError("the SQL is nested too deeply to analyze", code="analysis_parse_error") from exc
    return [s for s in parsed if isinstance(s, exp.Expression) and not isinstance(s, exp.Semicolon)]


def _describe(exc: SqlglotParseError) -> str:
    """A one-line message with the first error's line and column, without terminal escapes."""
    first = exc.errors[0] if exc.errors else {}
    desc = str(first.get("description") or "invalid SQL")
    line, col = first.get("line"), first.get("col")
    where = f" at line {line}, column {col}" if line is not None and col is not None else ""
    near = str(first.get("highlight") or "").strip()
    return f"the SQL could not be parsed{where}: {desc}" + (f" (near {near!r})" if near else "")
