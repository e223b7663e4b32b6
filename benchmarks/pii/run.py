"""PII scanner benchmark: accuracy per naming variant and throughput, against a naive Presidio baseline.

    python benchmarks/pii/run.py [--sample 100] [--rows 1000] [--tables 4]

Generates the seeded warehouse (benchmarks/pii/generate.py), scans each naming variant with
``privgate scan`` (no catalog: every column is analysed), and runs the baseline in the same process:
Presidio's AnalyzerEngine with its default recognizers (no NLP model, as installed here) over every
sampled value, one call per value, with a majority vote per column. The baseline ignores column
names, so it is measured once, on the honest tables' values. Writes RESULTS.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

from generate import VARIANTS, generate
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from privgate.connectors.scan import scan
from privgate.connectors.scan.analyzer import installed_ner_model
from privgate.connectors.scan.recognizers import OfflineEmailRecognizer
from privgate.connectors.scan.rules import default_rules
from privgate.connectors.scan.sources import TableRef, open_source

HERE = Path(__file__).resolve().parent
CRITICAL = ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "PERSON")


def score(
    predicted: dict[str, dict[str, set[str]]], truth: dict[str, dict[str, frozenset[str]]], universe: set[str]
) -> dict[str, object]:
    correct = total = 0
    counts: dict[str, Counter[str]] = {}
    missed: list[str] = []
    wrong: list[str] = []
    for table, cols in predicted.items():
        for col, pred in cols.items():
            want = set(truth[table][col])
            pred = pred & universe
            total += 1
            correct += pred == want
            if pred != want:
                wrong.append(f"{table}.{col}: want {sorted(want)} got {sorted(pred)}")
            for e in pred | want:
                c = counts.setdefault(e, Counter())
                c["tp" if e in pred and e in want else "fp" if e in pred else "fn"] += 1
                if e in want and e not in pred and e in CRITICAL:
                    missed.append(f"{table}.{col}:{e}")
    per_entity = {}
    for e, c in sorted(counts.items()):
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        per_entity[e] = {"precision": round(p, 3), "recall": round(r, 3), **c}
    return {
        "columns": total,
        "accuracy": round(correct / total, 4),
        "per_entity": per_entity,
        "missed_critical": missed,
        "wrong": wrong,
    }


def baseline(
    db: Path, tables: list[str], sample: int, universe: set[str]
) -> tuple[dict[str, dict[str, set[str]]], float, int]:
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp)
    # Same recognizers as Presidio's default, but its e-mail check must not fetch the suffix list online.
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer())
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp)
    source = open_source(str(db))
    out: dict[str, dict[str, set[str]]] = {}
    values_seen = 0
    started = time.perf_counter()
    for rel in tables:
        schema, name = rel.split(".")
        ref = TableRef(schema, name)
        out[rel] = {}
        for col in source.columns(ref):
            if col.kind in ("boolean", "unsupported"):
                out[rel][col.name] = set()
                continue
            values = source.sample(ref, col.name, sample)
            values_seen += len(values)
            votes: Counter[str] = Counter()
            for v in values:
                votes.update({r.entity_type for r in engine.analyze(text=v, language="en")} & universe)
            out[rel][col.name] = {e for e, n in votes.items() if n * 2 > len(values)}
    source.close()
    return out, time.perf_counter() - started, values_seen


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--baseline-tables", type=int, default=1)
    args = ap.parse_args()
    db = HERE / "data" / "bench.duckdb"
    truth = generate(db, rows=args.rows, tables=args.tables)
    universe = set(default_rules().settings.written_entities)
    scan(str(db), tables=["honest.t1"], sample=10)  # warm-up: build Presidio's registry and gazetteers once
    results: dict[str, object] = {
        "sample": args.sample,
        "rows": args.rows,
        "tables_per_variant": args.tables,
        "ner_model": installed_ner_model(),
        "python": platform.python_version(),
    }
    variants = {}
    for variant in VARIANTS:
        tables = [t for t in truth if t.startswith(variant + ".")]
        report = scan(str(db), tables=tables, sample=args.sample)
        assert report.ok, report.errors
        predicted: dict[str, dict[str, set[str]]] = {}
        for c in report.columns:
            predicted.setdefault(c.table, {})[c.column] = {f.entity for f in c.findings if f.level == "pii"}
        s = score(predicted, truth, universe)
        s.update(
            seconds=report.stats.seconds,
            columns_per_s=round(report.stats.columns / report.stats.seconds, 1),
            values=report.stats.values_analyzed,
            values_per_s=round(report.stats.values_analyzed / report.stats.seconds, 1),
        )
        variants[variant] = s
    base_tables = [f"honest.t{i + 1}" for i in range(args.baseline_tables)]
    pred, seconds, values = baseline(db, base_tables, args.sample, universe)
    b = score(pred, truth, universe)
    b.update(
        seconds=round(seconds, 2),
        columns_per_s=round(b["columns"] / seconds, 2),  # type: ignore[operator]
        values=values,
        values_per_s=round(values / seconds, 1),
    )
    results["variants"] = variants
    results["baseline"] = b
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(render(results))
    print(render(results))
    return 0


def render(r: dict[str, object]) -> str:
    v: dict[str, dict[str, object]] = r["variants"]  # type: ignore[assignment]
    b: dict[str, object] = r["baseline"]  # type: ignore[assignment]
    lines = [
        "# PII scan benchmark",
        "",
        f"`python benchmarks/pii/run.py` — {r['tables_per_variant']} seeded tables x 29 column kinds per "
        f"naming variant, {r['rows']} rows each, {r['sample']}-value samples, "
        f"NER model: {r['ner_model'] or 'none'}, 2-core machine, Python {r['python']}. "
        "Baseline: Presidio AnalyzerEngine (default recognizers, no NLP model) per value + majority vote, "
        "same run, honest tables only (it ignores column names).",
        "",
        "| | honest names | misleading names | meaningless names | naive baseline |",
        "|---|---|---|---|---|",
        "| column accuracy | "
        + " | ".join(f"{v[x]['accuracy']:.1%}" for x in VARIANTS)
        + f" | {b['accuracy']:.1%} |",
        "| columns/s | "
        + " | ".join(f"{v[x]['columns_per_s']}" for x in VARIANTS)
        + f" | {b['columns_per_s']} |",
        "| values/s | "
        + " | ".join(f"{v[x]['values_per_s']}" for x in VARIANTS)
        + f" | {b['values_per_s']} |",
        "| critical columns missed | "
        + " | ".join(str(len(v[x]["missed_critical"])) for x in VARIANTS)  # type: ignore[arg-type]
        + f" | {len(b['missed_critical'])} |",  # type: ignore[arg-type]
        "",
        "Per-entity precision / recall (column level):",
        "",
        "| entity | honest | misleading | meaningless | baseline |",
        "|---|---|---|---|---|",
    ]
    ents = sorted({e for x in VARIANTS for e in v[x]["per_entity"]} | set(b["per_entity"]))  # type: ignore[arg-type]
    for e in ents:
        cells = []
        for s in [v[x] for x in VARIANTS] + [b]:
            pe = s["per_entity"].get(e)  # type: ignore[attr-defined]
            cells.append(f"{pe['precision']:.2f} / {pe['recall']:.2f}" if pe else "-")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines += ["", "Wrong columns (privgate):", ""]
    for x in VARIANTS:
        for w in v[x]["wrong"]:  # type: ignore[attr-defined]
            lines.append(f"- {w}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
