"""``privgate check``: judge every statement in SQL files, as conftest judges configs in CI.

Files are walked in sorted order, split into statements with positions, and each statement is
decided as a ``check`` request. A file may set its own context in a header comment::

    -- privgate: purpose=marketing principal=campaign_job dialect=duckdb

so one repository can hold jobs that run under different purposes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from privgate.engine.decision import Decision, Principal, Request
from privgate.engine.errors import ConfigError
from privgate.engine.pipeline import Engine
from privgate.engine.split import Statement, split_statements

DIRECTIVE = re.compile(r"^\s*--\s*privgate:\s*(?P<body>.*)$", re.MULTILINE)
DIRECTIVE_KEYS = {"purpose", "principal", "dialect", "roles"}


@dataclass(frozen=True)
class Context:
    principal: Principal
    purpose: str
    dialect: str


@dataclass(frozen=True)
class Finding:
    path: str
    statement: Statement
    decision: Decision


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def denied(self) -> list[Finding]:
        return [f for f in self.findings if not f.decision.allowed]

    @property
    def epsilon(self) -> Decimal:
        return sum((f.decision.epsilon or Decimal(0) for f in self.findings), Decimal(0))


def sql_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*.sql") if x.is_file()))
        elif p.is_file():
            if p.suffix.lower() == ".sql":
                out.append(p)
            elif p.suffix.lower() not in (".yaml", ".yml"):  # YAML: training-job specs (check/training.py)
                raise ConfigError(f"{p}: privgate check reads .sql files and training-job specs (.yaml)",
                                  code="check_unsupported_file")
        else:
            raise ConfigError(f"{p}: no such file or folder", code="check_path_not_found")
    return out


def file_context(text: str, base: Context, roles_of: dict[str, tuple[str, ...]], path: Path) -> Context:
    """Apply ``-- privgate: key=value ...`` directives found in the file's leading comments."""
    values: dict[str, str] = {}
    for m in DIRECTIVE.finditer(text):
        for item in re.split(r"[,\s]+", m.group("body").strip()):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep or key not in DIRECTIVE_KEYS or not value:
                raise ConfigError(f"{path}: bad privgate directive {item!r}; use key=value with keys "
                                  f"{', '.join(sorted(DIRECTIVE_KEYS))}", code="check_bad_directive")
            values[key] = value
    principal = base.principal
    if "principal" in values:
        principal = Principal(id=values["principal"], roles=roles_of.get(values["principal"], ()))
    if "roles" in values:
        principal = Principal(id=principal.id, roles=tuple(values["roles"].split("+")))
    return Context(principal, values.get("purpose", base.purpose), values.get("dialect", base.dialect))


def run_check(engine: Engine, paths: Iterable[str | Path], base: Context,
              roles_of: dict[str, tuple[str, ...]]) -> CheckResult:
    result = CheckResult()
    for path in sql_files(paths):
        result.files.append(str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}", code="check_unreadable_file") from exc
        ctx = file_context(text, base, roles_of, path)
        result.findings.extend(_judge(engine, str(path), text, ctx))
    from .training import training_findings  # hook: training-job specs (*.yaml), see check/training.py

    files, findings = training_findings(engine, paths)
    result.files.extend(files)
    result.findings.extend(findings)
    return result


def _judge(engine: Engine, path: str, text: str, ctx: Context) -> Iterator[Finding]:
    for stmt in split_statements(text, ctx.dialect):
        request = Request(principal=ctx.principal, purpose=ctx.purpose, sql=stmt.sql,
                          dialect=ctx.dialect, surface="check")
        yield Finding(path, stmt, engine.decide(request))
