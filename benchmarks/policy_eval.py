"""Policy evaluation latency: embedded regorus (two input paths) and an OPA server round trip.

Inputs are the conformance corpus's ordinary cases (validated PolicyInput documents over the demo
catalog). Run from the repository root:

    .venv/bin/python benchmarks/policy_eval.py [--rounds 20] [--opa ../shared/bin/opa]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _support import default_data  # noqa: E402

from privgate.connectors.policy.corpus import load_cases  # noqa: E402
from privgate.connectors.policy.embedded import EmbeddedEvaluator  # noqa: E402
from privgate.connectors.policy.server import OpaServerEvaluator  # noqa: E402

PATH = "privgate/query/decision"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def row(name: str, samples: list[float]) -> str:
    return f"| {name} | {len(samples)} | {pct(samples, 0.5):.0f} | {pct(samples, 0.99):.0f} |"


def bench(fn: Any, inputs: list[dict[str, Any]], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for doc in inputs:
            t = time.perf_counter()
            fn(doc)
            out.append((time.perf_counter() - t) * 1e6)
    return out


def start_opa(binary: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(binary), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"OPA did not start at {url}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--opa", type=Path, default=ROOT.parent / "shared" / "bin" / "opa")
    args = ap.parse_args()
    cases = [c for c in load_cases([ROOT / "tests" / "corpus" / "policy"])
             if c.data is None and c.path is None and c.input.get("version") == 1 and "facts" in c.input]
    inputs = [c.input for c in cases]
    data = default_data()

    ev = EmbeddedEvaluator()
    ev.load(data)
    engine = ev._engine()
    rule = "data." + PATH.replace("/", ".")
    bench(lambda d: ev.evaluate(PATH, d), inputs, 2)  # warm up
    dict_path = bench(lambda d: ev.evaluate(PATH, d), inputs, args.rounds)
    json_path = bench(lambda d: (engine.set_input_json(json.dumps(d)), engine.eval_rule(rule)), inputs, args.rounds)
    set_only = bench(lambda d: engine.set_input(d), inputs, args.rounds)
    dumps_only = bench(lambda d: json.dumps(d), inputs, args.rounds)
    print(f"{len(inputs)} corpus inputs x {args.rounds} rounds; microseconds\n")
    print("| path | n | p50 µs | p99 µs |\n|---|---|---|---|")
    print(row("embedded: set_input(dict) + eval_rule (EmbeddedEvaluator.evaluate)", dict_path))
    print(row("embedded: json.dumps + set_input_json + eval_rule", json_path))
    print(row("embedded: set_input(dict) alone", set_only))
    print(row("json.dumps(input) alone", dumps_only))
    if args.opa.is_file():
        proc, url = start_opa(args.opa)
        try:
            opa = OpaServerEvaluator(url)
            opa.load(data)
            bench(lambda d: opa.evaluate(PATH, d), inputs, 2)
            print(row("OPA server: HTTP round trip (query_rule)", bench(lambda d: opa.evaluate(PATH, d),
                                                                         inputs, args.rounds)))
            opa.close()
        finally:
            proc.terminate()
            proc.wait(5)
    else:
        print(f"(no OPA binary at {args.opa}; server round trip not measured)")


if __name__ == "__main__":
    main()
