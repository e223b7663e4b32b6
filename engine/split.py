"""Split a SQL file into statements with their source positions, for ``privgate check``.

CI needs file/line/column for every finding, so statements are cut at top-level semicolons using
sqlglot's tokenizer (which understands strings, dollar quoting and comments) rather than a regex.
A file the tokenizer cannot read becomes one statement, so the analyzer reports the parse error
against it instead of the file being skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int  # 1-based
    column: int  # 1-based
    end_line: int
    end_column: int


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def split_statements(text: str, dialect: str) -> list[Statement]:
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    except SqlglotError:
        return [_whole(text)] if text.strip() else []
    out: list[Statement] = []
    current: list[Token] = []
    for tok in [*tokens, None]:
        if tok is None or tok.token_type == TokenType.SEMICOLON:
            if current:
                start, end = current[0].start, current[-1].end + 1
                line, col = _position(text, start)
                end_line, end_col = _position(text, end - 1)
                out.append(Statement(text[start:end], line, col, end_line, end_col))
            current = []
        else:
            current.append(tok)
    return out


def _whole(text: str) -> Statement:
    stripped = text.lstrip()
    start = len(text) - len(stripped)
    line, col = _position(text, start)
    end_line, end_col = _position(text, max(len(text.rstrip()) - 1, start))
    return Statement(text.strip(), line, col, end_line, end_col)
