"""Writing files so readers see the old text or the new, never half of it.

Catalog write-back (YAML files, scan suggestions) goes through here: each file is staged beside its
target (same folder, so the rename is atomic), flushed to disk, and only then renamed over it; a set
of files is staged completely before the first rename, so a failure leaves every target untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def stage_text(path: Path, text: str) -> Path:
    """A fsynced temp file beside ``path`` holding ``text``; the caller renames or removes it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def replace_all(files: Mapping[Path, str]) -> list[Path]:
    """Write every file atomically; all are staged before any is replaced. Raises ``OSError``."""
    staged: list[tuple[Path, Path]] = []
    try:
        for target, text in files.items():
            staged.append((stage_text(target, text), target))
        for tmp, target in staged:
            tmp.replace(target)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    return [target for _, target in staged]


def atomic_write(path: Path, text: str) -> None:
    replace_all({path: text})
