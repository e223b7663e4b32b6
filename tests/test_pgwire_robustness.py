"""Hostile and broken clients against a live proxy: the offending connection gets an error or is closed,
other connections are unaffected, and the server keeps serving. Needs PostgreSQL (fails in CI without)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pgwire_support import query, raw_login, read_message, serve_demo

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def proxy(demo_catalog):  # type: ignore[no-untyped-def]
    yield from serve_demo(demo_catalog)


def still_serving(proxy) -> None:  # type: ignore[no-untyped-def]
    sock = raw_login(proxy.port, proxy.db)
    out = query(sock, "SELECT 40 + 2")
    assert any(k == b"D" and b"42" in d for k, d in out)
    sock.close()


def _closed_after_error(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    return data


def test_garbage_before_startup(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(b"\x16\x03\x01\x02\x00" + b"\xde\xad" * 100)
        assert _closed_after_error(s)[:1] in (b"E", b"")
    still_serving(proxy)


def test_oversized_message_is_refused_without_buffering(proxy):
    other = raw_login(proxy.port, proxy.db)
    s = raw_login(proxy.port, proxy.db)
    s.sendall(b"Q" + struct.pack("!i", 1 << 30) + b"SELECT")
    data = _closed_after_error(s)
    assert data[:1] == b"E" and b"54000" in data
    assert any(k == b"D" for k, _ in query(other, "SELECT 1"))  # a neighbour is unaffected
    other.close()
    still_serving(proxy)


def test_unknown_message_type_closes_the_connection(proxy):
    s = raw_login(proxy.port, proxy.db)
    s.sendall(b"!" + struct.pack("!i", 4))
    data = _closed_after_error(s)
    assert b"08P01" in data
    still_serving(proxy)


def test_malformed_bind_is_a_protocol_error(proxy):
    s = raw_login(proxy.port, proxy.db)
    s.sendall(b"B" + struct.pack("!i", 4 + 3) + b"\x00\x00\xff")
    assert b"08P01" in _closed_after_error(s)
    still_serving(proxy)


def test_truncated_message_then_hangup(proxy):
    s = raw_login(proxy.port, proxy.db)
    s.sendall(b"Q" + struct.pack("!i", 100) + b"SELECT")
    s.close()
    time.sleep(0.2)
    still_serving(proxy)


def test_client_vanishes_mid_result(proxy):
    s = raw_login(proxy.port, proxy.db)
    big = ("SELECT a.product_id, b.name FROM products.products a CROSS JOIN products.products b "
           "CROSS JOIN products.products c")
    s.sendall(b"Q" + struct.pack("!i", 4 + len(big) + 1) + big.encode() + b"\x00")
    kind, _ = read_message(s)
    assert kind in (b"T", b"E")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # reset while the proxy is streaming rows
    time.sleep(0.5)
    for _ in range(3):
        still_serving(proxy)


def test_a_thousand_idle_connections_hold_no_upstream_connection(proxy):
    """Transaction pooling: idle sessions give their upstream connection back, so 1000 idle clients fit
    in a pool of 20 and a working client is unaffected."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2600:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    idle = []
    try:
        for _ in range(995):  # max_connections is 1000: leave room for the working clients
            idle.append(raw_login(proxy.port, proxy.db))
        assert proxy.server.active >= 995 and proxy.pool.opened <= proxy.pool.size
        still_serving(proxy)
        busy = idle[:5]
        for s in busy:  # some of the idle ones wake up and work
            assert any(k == b"D" for k, _ in query(s, "SELECT 1"))
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    still_serving(proxy)


def test_denial_inside_extended_batch_discards_until_sync(proxy):
    s = raw_login(proxy.port, proxy.db)

    def msg(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("!i", len(body) + 4) + body

    denied = b"SELECT customer_id, ssn FROM sales.customers\x00"
    ok = b"SELECT 9\x00"
    s.sendall(msg(b"P", b"\x00" + denied + b"\x00\x00") + msg(b"B", b"\x00\x00" + b"\x00\x00" * 3)
              + msg(b"E", b"\x00" + b"\x00" * 4) + msg(b"S", b"")
              + msg(b"P", b"\x00" + ok + b"\x00\x00") + msg(b"B", b"\x00\x00" + b"\x00\x00" * 3)
              + msg(b"E", b"\x00" + b"\x00" * 4) + msg(b"S", b""))
    kinds = []
    while len([k for k in kinds if k == b"Z"]) < 2:
        kind, body = read_message(s)
        kinds.append(kind)
        if kind == b"E":
            assert b"42501" in body
    assert kinds == [b"E", b"Z", b"1", b"2", b"D", b"C", b"Z"]
    s.close()


def test_metrics_endpoint_counts_decisions_without_values(proxy):
    import asyncio
    import urllib.request

    port = asyncio.run_coroutine_threadsafe(proxy.server.start_metrics("127.0.0.1", 0), proxy.loop).result(10)
    s = raw_login(proxy.port, proxy.db)
    query(s, "SELECT customer_id, ssn FROM sales.customers WHERE email = 'secret@example.com'")
    s.close()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'privgate_decisions_total{outcome="deny"' in body and "privgate_connections" in body
    assert "secret@example.com" not in body


def test_idle_timeout_and_connection_limit(proxy):
    from pgwire_support import RunningProxy

    limited = RunningProxy(proxy.server.pool.target.url, {"idle_timeout_s": 0.5, "max_connections": 2})
    try:
        a = raw_login(limited.port, proxy.db)
        b = raw_login(limited.port, proxy.db)
        with socket.create_connection(("127.0.0.1", limited.port)) as c:
            assert b"53300" in _closed_after_error(c)  # the third client is turned away
        b.close()
        time.sleep(1.0)
        data = _closed_after_error(a)
        assert b"57P05" in data  # idle for longer than idle_timeout_s
    finally:
        limited.stop()
