"""Reading YAML with errors that name the file, the line and the reason.

Every config, catalog and rules file goes through here so users get one consistent error style:
``catalog/sales.yaml: line 12, column 5: mapping values are not allowed here``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from privgate.engine.errors import PrivgateError


def read_yaml(path: Path, error: type[PrivgateError]) -> Any:
    """Parse one YAML file; unreadable or malformed files raise ``error`` naming file and position."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise error(f"{path}: {where}{exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from exc


def describe_validation(path: Path | str, exc: ValidationError, root: str = "") -> str:
    """One line per problem: ``file: path.to[2].field: reason`` — what a person needs to fix it."""
    lines = []
    for err in exc.errors():
        loc = root
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown key (typo?)"
        lines.append(f"{path}: {loc or '<top>'}: {reason}")
    return "\n".join(lines)
