"""A live ``privgate serve`` for tests: a fresh PostgreSQL database with the demo warehouse, the proxy on
an event loop thread, and a raw protocol client for the robustness tests."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import scramp

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("PRIVGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MASK_KEY = "pgwire-test-mask-key-0123456789"
# regorus objects are thread-affine and the embedded evaluator keeps one engine in the thread that built it;
# if the cyclic GC freed a stopped proxy's engine on another thread, pyo3 would complain. Proxies live for
# the process in production, so the tests keep theirs alive too.
_KEEP_ALIVE: list[object] = []


class RunningProxy:
    def __init__(self, upstream: str, serve_overrides: dict[str, object] | None = None) -> None:
        from privgate.cli.serve_cmd import build_server
        from privgate.config import load_config

        cfg = load_config(ROOT / "privgate.yaml", {})
        state = Path(tempfile.mkdtemp(prefix="privgate-proxy-"))  # a fresh ledger: never the checkout's
        cfg = cfg.model_copy(update={"mask_key_file": None, "ledger": cfg.ledger.model_copy(update={
            "url": f"sqlite:///{state / 'ledger.db'}", "release_cache": state / "releases.db"})})
        if serve_overrides:
            cfg = cfg.model_copy(update={"serve": cfg.serve.model_copy(update=serve_overrides)})
        self.server, self.pool = build_server(cfg, upstream, env={"PRIVGATE_MASK_KEY": MASK_KEY})
        _KEEP_ALIVE.append(self.server)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.port = self.loop.run_until_complete(self.server.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def url(self, user: str = "ana", password: str | None = None, driver: str = "postgresql") -> str:
        return f"{driver}://{user}:{password or user}@127.0.0.1:{self.port}/{self.db}"

    db = ""

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def start_proxy(demo_catalog) -> tuple[RunningProxy, str, str]:  # type: ignore[no-untyped-def]
    """Create ``privgate_test_<pid>``, load the demo warehouse, start the proxy. Returns (proxy, db, admin)."""
    import psycopg
    from conftest import require_service

    from privgate.connectors.demo_data import write_postgres

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        require_service("PostgreSQL", str(exc))
    db = f"privgate_test_{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {db}")
    admin.execute(f"CREATE DATABASE {db}")
    admin.close()
    upstream = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    write_postgres(upstream, demo_catalog, customers=1500, seed=3)
    proxy = RunningProxy(upstream)
    proxy.db = db
    return proxy, db, upstream


def serve_demo(demo_catalog) -> Iterator[RunningProxy]:  # type: ignore[no-untyped-def]
    """The body of a module's ``proxy`` fixture: a proxy over a fresh demo database, its upstream URL as
    ``proxy.upstream``; stopped and the database dropped afterwards."""
    p, db, upstream = start_proxy(demo_catalog)
    p.upstream = upstream  # type: ignore[attr-defined]
    yield p
    p.stop()
    drop_database(db)


def drop_database(db: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


# ---- a raw protocol client ----------------------------------------------------------------------

def frame(kind: bytes, body: bytes) -> bytes:
    """One protocol message: its type byte, its length, its body."""
    return kind + struct.pack("!i", len(body) + 4) + body


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _exact(sock, 5)
    kind, n = struct.unpack("!ci", head)
    return kind, _exact(sock, n - 4)


def _exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def raw_login(port: int, db: str, user: str = "ana", password: str = "ana") -> socket.socket:
    """Connect and authenticate with SCRAM by hand; returns the socket after ReadyForQuery."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{db}\0\0".encode()
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    client = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    while True:
        kind, data = read_message(sock)
        if kind == b"R":
            code = struct.unpack("!i", data[:4])[0]
            if code == 10:
                first = client.get_client_first().encode()
                sock.sendall(frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
            elif code == 11:
                client.set_server_first(data[4:].decode())
                sock.sendall(frame(b"p", client.get_client_final().encode()))
            elif code == 12:
                client.set_server_final(data[4:].decode())
        elif kind == b"E":
            raise AssertionError(data)
        elif kind == b"Z":
            return sock


def query(sock: socket.socket, sql: str) -> list[tuple[bytes, bytes]]:
    sock.sendall(frame(b"Q", sql.encode() + b"\0"))
    return read_until_ready(sock)


def read_until_ready(sock: socket.socket) -> list[tuple[bytes, bytes]]:
    """Every message up to and including the next ReadyForQuery."""
    out = []
    while True:
        kind, data = read_message(sock)
        out.append((kind, data))
        if kind == b"Z":
            return out


def require_binary(name: str) -> str:
    import shutil

    from conftest import require_service

    path = shutil.which(name)
    if path is None:
        require_service(name, "not installed")
    assert path is not None
    return path


__all__ = ["MASK_KEY", "RunningProxy", "drop_database", "pytest", "query", "raw_login", "read_message",
           "require_binary", "start_proxy"]
