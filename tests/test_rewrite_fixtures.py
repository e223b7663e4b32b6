"""Before/after fixture pairs for each rewrite (tests/fixtures/rewrite/<rule>.sql), sqlglot style."""

from __future__ import annotations

import pytest
import sqlglot
from rewrite_support import MASK_KEY, FixtureCase, analysis, catalog, read_fixtures

from privgate.engine.rewrite import Rewriter

FILES = ("mask.sql", "row_filter.sql", "row_limit.sql", "combined.sql")
CASES = [case for name in FILES for case in read_fixtures(name)]


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    return Rewriter(catalog(), mask_key=MASK_KEY)


def test_every_rule_has_fixtures() -> None:
    counts = {name: len(read_fixtures(name)) for name in FILES}
    assert all(n >= 8 for n in counts.values()), counts


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case: FixtureCase, rewriter: Rewriter) -> None:
    result = rewriter.apply(analysis(case.sql, case.dialect, qualified=case.qualified), case.obligations,
                            case.dialect)
    assert result.sql == case.expected
    sqlglot.parse_one(result.sql, read=case.dialect)  # the output is valid SQL in its dialect
    placeholders = {p for p in result.params}
    for name in placeholders:
        assert name in result.sql
    assert all(name.startswith("privgate_") for name in placeholders)
