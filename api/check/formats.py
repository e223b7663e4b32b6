"""Output formats for ``privgate check``: text, JSON, SARIF 2.1.0 and JUnit XML.

SARIF is what code-scanning UIs ingest (GitHub, GitLab, Azure DevOps): one rule per reason code,
one result per deny reason, each with a file/line/column region. JUnit makes every statement a test
case so CI dashboards show pass/fail counts without a plugin.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from privgate.engine import __version__

from .runner import CheckResult, Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/privgate/privgate"


def _where(f: Finding) -> str:
    return f"{f.path}:{f.statement.line}:{f.statement.column}"


def _eps(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def render_text(result: CheckResult) -> str:
    lines: list[str] = []
    for f in result.findings:
        d = f.decision
        if d.allowed:
            kinds = ", ".join(sorted({o.kind for o in d.obligations}))
            extra = f" (rewrite: {kinds}" + (f"; ε={_eps(d.epsilon)}" if d.epsilon is not None else "") + ")" \
                if kinds else ""
            lines.append(f"PASS - {_where(f)}{extra}")
        else:
            for r in d.reasons:
                lines.append(f"FAIL - {_where(f)} - {r.code}: {r.message}")
    n, bad = len(result.findings), len(result.denied)
    lines.append("")
    lines.append(f"{n} statement{'s' if n != 1 else ''} in {len(result.files)} file"
                 f"{'s' if len(result.files) != 1 else ''}: {n - bad} passed, {bad} denied; "
                 f"ε forecast {_eps(result.epsilon)}")
    return "\n".join(lines) + "\n"


def render_json(result: CheckResult) -> str:
    doc = {
        "summary": {"statements": len(result.findings), "files": len(result.files),
                    "denied": len(result.denied), "epsilon_forecast": _eps(result.epsilon)},
        "results": [
            {"path": f.path, "line": f.statement.line, "column": f.statement.column,
             "end_line": f.statement.end_line, "end_column": f.statement.end_column,
             "sql": f.statement.sql, "decision": json.loads(f.decision.to_json())}
            for f in result.findings
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def render_sarif(result: CheckResult, root: Path | None = None) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for f in result.findings:
        for r in f.decision.reasons if not f.decision.allowed else ():
            rules.setdefault(r.code, {
                "id": r.code, "name": _camel(r.code),
                "shortDescription": {"text": r.code.replace("_", " ")},
                "helpUri": f"{INFO_URI}/blob/main/docs/policies.md#{r.code}",
                "defaultConfiguration": {"level": "error"},
            })
            results.append({
                "ruleId": r.code,
                "ruleIndex": list(rules).index(r.code),
                "level": "error",
                "message": {"text": r.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path, root), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.statement.line, "startColumn": f.statement.column,
                               "endLine": f.statement.end_line, "endColumn": f.statement.end_column + 1},
                }}],
                "properties": {"decisionId": f.decision.id, "policyRule": r.rule},
            })
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "privgate", "version": __version__, "informationUri": INFO_URI,
                                "rules": list(rules.values())}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": (root or Path.cwd()).resolve().as_uri() + "/"}},
            "results": results,
            "properties": {"epsilonForecast": _eps(result.epsilon)},
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


def render_junit(result: CheckResult) -> str:
    suites = ET.Element("testsuites", name="privgate check", tests=str(len(result.findings)),
                        failures=str(len(result.denied)))
    by_file: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_file.setdefault(f.path, []).append(f)
    for path, findings in by_file.items():
        bad = [f for f in findings if not f.decision.allowed]
        suite = ET.SubElement(suites, "testsuite", name=path, tests=str(len(findings)),
                              failures=str(len(bad)), errors="0", skipped="0")
        for f in findings:
            case = ET.SubElement(suite, "testcase", classname=path,
                                 name=f"line {f.statement.line}: {f.statement.sql.splitlines()[0][:80]}",
                                 file=path, line=str(f.statement.line),
                                 time=f"{f.decision.timings_ms.get('total', 0.0) / 1e3:.6f}")
            if not f.decision.allowed:
                codes = ", ".join(r.code for r in f.decision.reasons)
                fail = ET.SubElement(case, "failure", type=codes, message=codes)
                fail.text = "\n".join(f"{r.code}: {r.message}" for r in f.decision.reasons)
            elif f.decision.epsilon is not None:
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="epsilon", value=_eps(f.decision.epsilon))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


FORMATS = {"text": render_text, "json": render_json, "sarif": render_sarif, "junit": render_junit}


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def _uri(path: str, root: Path | None) -> str:
    p = Path(path)
    try:
        rel = p.resolve().relative_to((root or Path.cwd()).resolve())
    except ValueError:
        return p.resolve().as_uri()
    return rel.as_posix()
