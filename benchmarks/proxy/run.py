"""pgbench through three paths — direct PostgreSQL, pgbouncer, privgate serve — in one run.

    .venv/bin/python benchmarks/proxy/run.py [--seconds 10] [--clients 4] [--pg postgresql://postgres@127.0.0.1:5432/test]

The workload is an allowed, non-PII point read through the full privgate pipeline:
``SELECT name, price FROM products.products WHERE product_id = :pid`` (pgbench modes simple, extended,
prepared; 4 clients), then single-client latency: the same statement repeated (privgate's decision cache)
and a *cold* variant whose SQL text differs every time (random literal, simple protocol: every
statement is analyzed and decided from scratch). Writes benchmarks/proxy/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HOT = "\\set pid random(1, 200)\nSELECT name, price FROM products.products WHERE product_id = :pid;\n"
COLD = "\\set pid random(1, 1000000000)\nSELECT name, price FROM products.products WHERE product_id = :pid;\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listening on {port}")


def pgbench(port: int, user: str, password: str, db: str, script: Path, mode: str, clients: int,
            seconds: int) -> tuple[float, float]:
    env = {**os.environ, "PGPASSWORD": password}
    out = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-c", str(clients),
                          "-j", str(min(clients, 2)), "-T", str(seconds), "-M", mode, "-f", str(script), db],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed on port {port} ({mode}):\n{out.stdout}\n{out.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    lat = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))  # type: ignore[union-attr]
    return tps, lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    for tool in ("pgbench", "pgbouncer", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt install postgresql-client pgbouncer)")
    import psycopg

    sys.path.insert(0, str(ROOT))
    from privgate.connectors.catalog_yaml import load_catalog
    from privgate.connectors.demo_data import write_postgres

    db = "privgate_bench"
    with psycopg.connect(args.pg, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {db}")
    upstream = args.pg.rsplit("/", 1)[0] + f"/{db}"
    write_postgres(upstream, load_catalog(ROOT / "examples/demo/catalog"), customers=2000)
    pg_port = int(re.search(r":(\d+)/", args.pg).group(1))  # type: ignore[union-attr]

    work = Path(tempfile.mkdtemp(prefix="privgate-bench-"))
    work.chmod(0o777)
    hot, cold = work / "hot.sql", work / "cold.sql"
    hot.write_text(HOT)
    cold.write_text(COLD)
    bouncer_port, proxy_port = free_port(), free_port()
    (work / "users.txt").write_text('"postgres" ""\n')
    (work / "pgbouncer.ini").write_text(
        f"[databases]\n{db} = host=127.0.0.1 port={pg_port} dbname={db} user=postgres\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {bouncer_port}\nauth_type = trust\n"
        f"auth_file = {work}/users.txt\npool_mode = session\nmax_client_conn = 200\ndefault_pool_size = 20\n"
        f"logfile = {work}/pgbouncer.log\npidfile = {work}/pgbouncer.pid\n"
        f"unix_socket_dir =\n")
    for f in work.iterdir():
        f.chmod(0o666)
    bouncer_cmd = ["pgbouncer", str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:
        bouncer_cmd[1:1] = ["-u", "nobody"]
    bouncer = subprocess.Popen(bouncer_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "PRIVGATE_MASK_KEY": "benchmark-mask-key-0123456789"}
    proxy = subprocess.Popen([str(BIN / "privgate"), "--config", str(ROOT / "privgate.yaml"), "serve",
                              "--listen", f"127.0.0.1:{proxy_port}", "--upstream", upstream],
                             stdout=subprocess.DEVNULL, stderr=(work / "privgate.log").open("w"), env=env)
    try:
        wait_port(bouncer_port)
        wait_port(proxy_port)
        targets = {"direct": (pg_port, "postgres", ""), "pgbouncer": (bouncer_port, "postgres", ""),
                   "privgate": (proxy_port, "ana", "ana")}
        rows = []
        for mode in ("simple", "extended", "prepared"):
            line = {"mode": mode}
            for name, (port, user, pw) in targets.items():
                pgbench(port, user, pw, db, hot, mode, args.clients, 2)  # warm up
                line[name] = pgbench(port, user, pw, db, hot, mode, args.clients, args.seconds)[0]
            rows.append(line)
            print(line, flush=True)
        lat = {}
        for name in ("direct", "privgate"):
            port, user, pw = targets[name]
            lat[f"{name} repeated"] = pgbench(port, user, pw, db, hot, "prepared", 1, args.seconds)[1]
            lat[f"{name} repeated (simple)"] = pgbench(port, user, pw, db, hot, "simple", 1, args.seconds)[1]
            lat[f"{name} cold (simple)"] = pgbench(port, user, pw, db, cold, "simple", 1, args.seconds)[1]
        print(lat, flush=True)
    finally:
        proxy.send_signal(signal.SIGINT)
        bouncer.terminate()
        proxy.wait(10)
        bouncer.wait(10)
        with psycopg.connect(args.pg, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    write_results(rows, lat, args)
    return 0


NOTES = """## Notes

- pgbouncer 1.18 (Debian) runs `pool_mode = session`, auth trust; privgate authenticates every client with
  SCRAM-SHA-256, decides every statement (decision cache for repeats) and pools upstream connections per
  transaction. uvloop is used when installed (it is, in the dev venv).
- All processes share the 2 CPUs with pgbench, so throughput varies about ±10% run to run. Extended mode is
  closest to the target: runs during development measured 0.49x (before batching client writes), then
  0.60x and 0.65x; treat it as "at the target", not comfortably above it.
- "cold" = a fresh SQL text every statement (random literal, simple protocol): full analysis + policy
  evaluation each time; "repeated" hits privgate's decision cache."""


def write_results(rows: list[dict[str, object]], lat: dict[str, float], args: argparse.Namespace) -> None:
    out = ["# privgate serve — benchmark results", "",
           f"Generated by `benchmarks/proxy/run.py --seconds {args.seconds} --clients {args.clients}` on this "
           f"machine ({os.cpu_count()} CPUs), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
           "Workload: `SELECT name, price FROM products.products WHERE product_id = :pid` (allowed, non-PII, "
           "full pipeline), pgbench, PostgreSQL, pgbouncer and privgate on the same host.", "",
           f"## Throughput (tps, {args.clients} clients)", "",
           "| mode | direct | pgbouncer | privgate | privgate / pgbouncer | target |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = float(r["privgate"]) / float(r["pgbouncer"])  # type: ignore[arg-type]
        out.append(f"| {r['mode']} | {float(r['direct']):.0f} | {float(r['pgbouncer']):.0f} | "  # type: ignore[arg-type]
                   f"{float(r['privgate']):.0f} | {ratio:.2f}x | >= 0.6x {'met' if ratio >= 0.6 else 'MISSED'} |")  # type: ignore[arg-type]
    out += ["", "## Single-client latency (ms, pgbench average)", "", "| statement | direct | privgate | added |",
            "|---|---|---|---|"]
    for key, target in (("repeated", 0.15), ("repeated (simple)", 0.15), ("cold (simple)", 3.0)):
        d, p = lat[f"direct {key}"], lat[f"privgate {key}"]
        out.append(f"| {key} | {d:.3f} | {p:.3f} | {p - d:.3f} (target <= {target}: "
                   f"{'met' if p - d <= target else 'MISSED'}) |")
    out += ["", NOTES]
    (Path(__file__).parent / "RESULTS.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    raise SystemExit(main())
