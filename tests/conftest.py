"""Shared fixtures. Service-backed tests fail in CI (env CI set) and skip visibly elsewhere.

OPA: ``opa_url`` starts ``../shared/bin/opa`` next to the checkout (override with ``PRIVGATE_OPA_BIN``)
on a free loopback port for the session and stops it at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# DP fixtures (demo DuckDB warehouse, executors) live in tests/dp_helpers.py.
pytest_plugins = ("dp_helpers",)

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo" / "catalog"
CONFIG = ROOT / "privgate.yaml"

# tests/_support.py (policy tests' loaders) is imported as a top-level helper module
sys.path.insert(0, str(Path(__file__).resolve().parent))


def require_service(name: str, reason: str) -> None:
    """Fail in CI, skip with a visible reason elsewhere."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (mandatory in CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def demo_catalog():  # type: ignore[no-untyped-def]
    from privgate.connectors.catalog_yaml import load_catalog

    return load_catalog(DEMO_CATALOG)


@pytest.fixture(scope="session")
def default_rules():  # type: ignore[no-untyped-def]
    from privgate.connectors.rules_files import load_rules

    return load_rules()


def opa_binary() -> Path:
    return Path(os.environ.get("PRIVGATE_OPA_BIN") or ROOT.parent / "shared" / "bin" / "opa")


@pytest.fixture(scope="session")
def opa_bin() -> Path:
    """The OPA binary, or skip/fail (in CI) when it is missing."""
    binary = opa_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        require_service("OPA binary", f"not found at {binary}; set PRIVGATE_OPA_BIN")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def opa_url(opa_bin: Path) -> Iterator[str]:
    """URL of a fresh OPA server on 127.0.0.1, or skip/fail when it cannot run."""
    binary = opa_bin
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([str(binary), "run", "--server", "--addr", f"127.0.0.1:{port}",
                                 "--log-level", "error"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    require_service("OPA server", f"OPA at {binary} exited with {proc.returncode}: "
                                        f"{log.read().decode(errors='replace')[-500:]}")
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    require_service("OPA server", f"{binary} did not become healthy on {url} within 20 s")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
