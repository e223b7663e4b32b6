from __future__ import annotations

from privgate.engine.split import split_statements


def test_splits_at_top_level_semicolons_with_positions():
    text = (
        "-- header\nSELECT 1;  /* c */ SELECT 'a;b'\n  FROM t;\n"
        "DO $$ BEGIN PERFORM 1; END $$;\nSELECT 2 -- x\n; DROP TABLE x"
    )
    got = [(s.sql, s.line, s.column) for s in split_statements(text, "postgres")]
    assert got == [
        ("SELECT 1", 2, 1),
        ("SELECT 'a;b'\n  FROM t", 2, 20),
        ("DO $$ BEGIN PERFORM 1; END $$", 4, 1),
        ("SELECT 2", 5, 1),
        ("DROP TABLE x", 6, 3),
    ]


def test_untokenizable_file_is_one_statement():
    [stmt] = split_statements("\n  SELECT 'unterminated", "postgres")
    assert (stmt.sql, stmt.line, stmt.column) == ("SELECT 'unterminated", 2, 3)


def test_empty_and_comment_only_files_have_no_statements():
    assert split_statements("", "postgres") == []
    assert split_statements("-- nothing\n;;", "postgres") == []
