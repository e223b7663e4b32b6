"""The bundle loader: what it reads, what it skips, and a revision that tracks content."""

from __future__ import annotations

from pathlib import Path

import pytest

from privgate.connectors.policy.bundle import load_bundle, merge_data
from privgate.engine.errors import PolicyError

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def test_default_bundle_comes_from_the_installed_package() -> None:
    bundle = load_bundle()
    paths = [p for p, _ in bundle.policies]
    assert "query/decision.rego" in paths
    assert not any(p.endswith("_test.rego") for p in paths)
    assert bundle.revision.startswith("sha256:") and len(bundle.revision) == len("sha256:") + 16
    # the installed copy and the source folder are the same bundle
    assert load_bundle(POLICIES).revision == bundle.revision


def _write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def test_revision_changes_with_policy_and_data_but_not_tests(tmp_path: Path) -> None:
    root = _write(tmp_path, {"a/p.rego": "package a\n\nx := 1\n", "a/p_test.rego": "package a\n"})
    first = load_bundle(root).revision
    (root / "a/p_test.rego").write_text("package a\n\ntest_x if true\n", encoding="utf-8")
    assert load_bundle(root).revision == first
    (root / "a/p.rego").write_text("package a\n\nx := 2\n", encoding="utf-8")
    second = load_bundle(root).revision
    assert second != first
    (root / "a/data.yaml").write_text("limit: 3\n", encoding="utf-8")
    bundle = load_bundle(root)
    assert bundle.revision != second
    assert bundle.data == {"a": {"limit": 3}}


def test_data_files_nest_at_their_folder_and_merge(tmp_path: Path) -> None:
    root = _write(tmp_path, {"p.rego": "package p\n", "data.json": '{"top": {"k": 1}}',
                             "top/data.yaml": "j: 2\n"})
    assert load_bundle(root).data == {"top": {"k": 1, "j": 2}}


def test_missing_or_empty_bundle_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist") as exc:
        load_bundle(tmp_path / "nope")
    assert exc.value.code == "policy_bundle_invalid"
    with pytest.raises(PolicyError, match=r"holds no \.rego files"):
        load_bundle(tmp_path)
    _write(tmp_path, {"p.rego": "package p\n", "data.json": "[1, 2]"})
    with pytest.raises(PolicyError, match=r"data file data\.json must hold an object"):
        load_bundle(tmp_path)


def test_merge_data_merges_objects_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert merge_data(base, {"a": {"c": [2], "e": None}}) == {"a": {"b": 1, "c": [2], "e": None}, "d": 1}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
