"""``privgate check`` for training-job specs (``*.yaml``): the whole job judged before deploy.

A YAML file is a training job when it has ``rounds``, ``domains``, ``model`` and ``purpose``; other
YAML files are ignored. Each job becomes one finding: the training policy's decision on the whole
job (round 0) with its ε forecast (zCDP, as the ledger composes the per-round charges) in the
decision's ``epsilon``. Needs the ``fl`` extra (dp-accounting).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from privgate.engine.errors import ConfigError
from privgate.engine.pipeline import Engine
from privgate.engine.split import Statement
from privgate.engine.training import TrainingGovernor, parse_job
from privgate.engine.training.spec import is_training_job

from .runner import Finding


def yaml_files(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """``(file, named explicitly)``: a file named on the command line must be a training job; YAML found
    by walking a folder may be anything (configs, catalogs) and is judged only when it is one."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend((x, False) for x in sorted(p.rglob("*.y*ml")) if x.suffix in (".yaml", ".yml") and x.is_file())
        elif p.suffix in (".yaml", ".yml") and p.is_file():
            out.append((p, True))
    return out


def training_findings(engine: Engine, paths: Iterable[str | Path]) -> tuple[list[str], list[Finding]]:
    """(files judged, findings) for every training job among the YAML files under ``paths``."""
    from privgate.connectors.training_files import load_training_settings
    from privgate.connectors.yaml_io import read_yaml

    files: list[str] = []
    findings: list[Finding] = []
    ids = itertools.count(1)
    settings = None
    for path, explicit in yaml_files(paths):
        try:
            doc = read_yaml(path, ConfigError)
        except ConfigError:
            if explicit:  # named on purpose: an unreadable spec must not pass the check silently
                raise
            continue  # YAML found while walking a folder that is not readable: not a training job
        if not is_training_job(doc):
            if explicit:
                raise ConfigError(f"{path}: not a training-job spec (it needs rounds, domains, model and purpose)",
                                  code="check_not_a_training_job")
            continue
        files.append(str(path))
        job = parse_job(doc, source=str(path))
        settings = settings or load_training_settings()
        gov = TrainingGovernor(job, engine.catalog, engine.rules, settings, engine.evaluator, None,
                               clock=lambda: datetime.now(UTC), new_id=lambda: f"check-{next(ids)}", run_id="check")
        fc = gov.forecast()
        decision = fc.decision
        if fc.forecast is not None:  # the whole job's epsilon, as the ledger will compose it
            decision = decision.model_copy(update={"epsilon": fc.forecast.epsilon_zcdp,
                                                   "delta": fc.forecast.target_delta})
        lines = len(path.read_text(encoding="utf-8").splitlines()) or 1
        findings.append(Finding(str(path), Statement(sql=decision.sql, line=1, column=1, end_line=lines,
                                                     end_column=1), decision))
    return files, findings
