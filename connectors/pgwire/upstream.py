"""The proxy's own connections to the upstream PostgreSQL, and a pool so clients never cost a reconnect.

The proxy authenticates upstream with its own credentials (from the upstream URL: trust, password,
md5 or SCRAM-SHA-256 via ``scramp``); client credentials never travel upstream. A connection is
leased to one client session at a time (session pooling) and reset with ``DISCARD ALL`` when returned.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

import scramp
from psycopg.conninfo import conninfo_to_dict

from privgate.engine.dp.errors import UpstreamError

from . import protocol as pq

# Binding this (never prepared) statement always fails upstream, with no side effect, and the upstream log
# explains why: any error aborts a transaction, which is all the proxy wants from it.
ABORT_STATEMENT = "privgate refused a statement: transaction aborted"  # < NAMEDATALEN
ABORT_BIND = pq.encode_bind(pq.BindMsg("", ABORT_STATEMENT, (), (), ()))


@dataclass(frozen=True)
class UpstreamTarget:
    """Where and how to connect: a TCP host/port or a Unix socket directory, plus credentials."""

    host: str
    port: int
    user: str
    database: str
    password: str = ""
    url: str = field(default="", repr=False)

    @classmethod
    def from_url(cls, url: str) -> UpstreamTarget:
        try:
            d: dict[str, Any] = conninfo_to_dict(url)
        except Exception as exc:
            raise UpstreamError(f"invalid upstream URL: {exc}", code="upstream_invalid_url") from exc
        return cls(host=str(d.get("host") or "127.0.0.1"), port=int(d.get("port") or 5432),
                   user=str(d.get("user") or "postgres"), database=str(d.get("dbname") or d.get("user") or "postgres"),
                   password=str(d.get("password") or ""), url=url)


class UpstreamConnection:
    """One authenticated upstream session: raw message I/O plus what the server reported at startup."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parameters: dict[str, str] = {}
        self.key: tuple[int, int] = (0, 0)
        self.status = "I"
        self.broken = False
        self.buf = bytearray()
        self.applied: tuple[str, ...] = ()  # session settings (SET ...) currently in effect on this backend

    async def read_message(self) -> tuple[int, bytes]:
        while (end := pq.frame_end(self.buf)) < 0:
            chunk = await self.reader.read(65536)
            if not chunk:
                self.broken = True
                raise UpstreamError("the upstream connection closed", code="upstream_lost")
            self.buf += chunk
        kind, body = self.buf[0], bytes(self.buf[5:end])
        del self.buf[:end]
        return kind, body

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_until_ready(self) -> list[tuple[int, bytes]]:
        """All messages up to and including ReadyForQuery (for the proxy's own short exchanges)."""
        out = []
        while True:
            kind, body = await self.read_message()
            out.append((kind, body))
            if kind == ord("S"):
                name, _, rest = body.partition(b"\x00")
                self.parameters[name.decode()] = rest.rstrip(b"\x00").decode()
            if kind == ord("Z"):
                self.status = chr(body[0])
                return out

    async def simple(self, sql: str) -> list[list[str | None]]:
        """Run one statement of the proxy's own (never client SQL) and return its text rows."""
        self.send(pq.encode_query(sql))
        rows: list[list[str | None]] = []
        error = None
        for kind, body in await self.read_until_ready():
            if kind == ord("D"):
                p = pq.Payload(body)
                n = p.i16()
                row: list[str | None] = []
                for _ in range(n):
                    ln = p.i32()
                    row.append(None if ln < 0 else p.take(ln).decode())
                rows.append(row)
            elif kind == ord("E"):
                error = pq.parse_fields(body).get("M", "error")
        if error:
            raise UpstreamError(f"upstream rejected {sql!r}: {error}", code="upstream_error")
        return rows

    async def abort_transaction(self) -> None:
        """Put the open transaction block into PostgreSQL's failed state (the proxy refused a statement in it).

        PostgreSQL marks a transaction failed after any error; a statement the proxy answers itself never
        reached the upstream, so the proxy makes the upstream fail one on purpose. From then on the
        upstream's own state machine answers: 25P02 for every statement, ROLLBACK for COMMIT, status 'E'.
        """
        self.send(ABORT_BIND + pq.SYNC)
        await self.read_until_ready()

    def close(self) -> None:
        self.broken = True
        self.writer.close()


async def connect(target: UpstreamTarget, timeout: float = 5.0) -> UpstreamConnection:
    try:
        return await asyncio.wait_for(_connect(target), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        raise UpstreamError(f"cannot connect to upstream PostgreSQL {target.host}:{target.port}: {exc}",
                            code="upstream_unreachable") from exc


async def _connect(target: UpstreamTarget) -> UpstreamConnection:
    if target.host.startswith("/"):
        reader, writer = await asyncio.open_unix_connection(f"{target.host}/.s.PGSQL.{target.port}")
    else:
        reader, writer = await asyncio.open_connection(target.host, target.port)
    conn = UpstreamConnection(reader, writer)
    conn.send(pq.startup_packet({"user": target.user, "database": target.database,
                                 "application_name": "privgate", "client_encoding": "UTF8"}))
    await _authenticate(conn, target)
    while True:
        kind, body = await conn.read_message()
        if kind == ord("E"):
            raise UpstreamError(f"upstream refused the connection: {pq.parse_fields(body).get('M')}",
                                code="upstream_unreachable")
        if kind == ord("S"):
            name, _, rest = body.partition(b"\x00")
            conn.parameters[name.decode()] = rest.rstrip(b"\x00").decode()
        elif kind == ord("K"):
            conn.key = struct.unpack("!ii", body[:8])
        elif kind == ord("Z"):
            conn.status = chr(body[0])
            return conn


async def _authenticate(conn: UpstreamConnection, target: UpstreamTarget) -> None:
    client: scramp.ScramClient | None = None
    while True:
        kind, body = await conn.read_message()
        if kind == ord("E"):
            raise UpstreamError(f"upstream authentication failed: {pq.parse_fields(body).get('M')}",
                                code="upstream_auth_failed")
        if kind != ord("R"):
            raise UpstreamError(f"unexpected upstream message {chr(kind)!r} during authentication",
                                code="upstream_protocol")
        (code,) = struct.unpack_from("!i", body)
        if code == 0:
            return
        if code == 3:
            conn.send(pq.message(b"p", target.password.encode() + b"\x00"))
        elif code == 5:
            salt = body[4:8]
            inner = hashlib.md5((target.password + target.user).encode()).hexdigest()
            outer = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
            conn.send(pq.message(b"p", outer.encode() + b"\x00"))
        elif code == 10:
            mechs = [m.decode() for m in body[4:].split(b"\x00") if m]
            if "SCRAM-SHA-256" not in mechs:
                raise UpstreamError(f"upstream offers no supported SASL mechanism ({mechs})",
                                    code="upstream_auth_failed")
            client = scramp.ScramClient(["SCRAM-SHA-256"], target.user, target.password)
            first = client.get_client_first().encode()
            conn.send(pq.message(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first))
        elif code == 11 and client is not None:
            client.set_server_first(body[4:].decode())
            conn.send(pq.message(b"p", client.get_client_final().encode()))
        elif code == 12 and client is not None:
            client.set_server_final(body[4:].decode())
        else:
            raise UpstreamError(f"unsupported upstream authentication request {code}", code="upstream_auth_failed")


class UpstreamPool:
    """Idle upstream connections, reused across client sessions; at most ``size`` open at once."""

    def __init__(self, target: UpstreamTarget, size: int = 20, connect_timeout: float = 5.0) -> None:
        self.target = target
        self.size = size
        self.connect_timeout = connect_timeout
        self._idle: list[UpstreamConnection] = []
        self._slots = asyncio.Semaphore(size)
        self.opened = 0
        self._all: set[UpstreamConnection] = set()

    async def acquire(self, timeout: float = 10.0) -> UpstreamConnection:
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except TimeoutError as exc:
            raise UpstreamError(f"all {self.size} upstream connections are busy",
                                code="upstream_pool_exhausted") from exc
        while self._idle:
            conn = self._idle.pop()
            if not conn.broken and not conn.writer.is_closing():
                return conn
        try:
            conn = await connect(self.target, self.connect_timeout)
        except BaseException:
            self._slots.release()
            raise
        self.opened += 1
        self._all.add(conn)
        return conn

    def release_idle(self, conn: UpstreamConnection) -> None:
        """Return a connection between transactions (status idle, no named statements): reused as is."""
        self._idle.append(conn)
        self._slots.release()

    async def release(self, conn: UpstreamConnection) -> None:
        """Return a connection; it is reset (transaction rolled back, session state discarded) or dropped."""
        try:
            if not conn.broken:
                if conn.status != "I":
                    await asyncio.wait_for(conn.simple("ROLLBACK"), 5)
                await asyncio.wait_for(conn.simple("DISCARD ALL"), 5)
                conn.applied = ()
                self._idle.append(conn)
            else:
                conn.close()
                self._all.discard(conn)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, UpstreamError, pq.ProtocolError):
            conn.close()
        finally:
            self._slots.release()

    async def cancel(self, key: tuple[int, int]) -> None:
        """Forward a cancel for the upstream backend ``key`` over a fresh connection (the protocol's way)."""
        t = self.target
        if t.host.startswith("/"):
            _, writer = await asyncio.open_unix_connection(f"{t.host}/.s.PGSQL.{t.port}")
        else:
            _, writer = await asyncio.open_connection(t.host, t.port)
        writer.write(struct.pack("!iiii", 16, pq.CANCEL_REQUEST, *key))
        await writer.drain()
        writer.close()

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._idle.clear()
        self._all.clear()
