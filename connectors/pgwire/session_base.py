"""What every part of a client session shares: its state, the client's bytes and the upstream relay.

``SessionBase`` holds the per-connection state (the leased upstream connection, prepared statements and
portals, the extended-protocol queues, pinning, the search path) and the plumbing every flow uses: buffered
writes to the client, reading frames, leasing an upstream connection with the session's settings, and
relaying upstream responses frame-aware (scanned, never re-encoded; the client is drained after every chunk,
so a large result is never buffered whole). The flows are mixins over it: ``startup``, ``simple``,
``extended``, with ``transaction`` and ``search_path`` state and ``planning`` shared by both query flows.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from privgate.engine.decision import Principal
from privgate.engine.dp import DpResult
from privgate.engine.dp.errors import UpstreamError

from . import protocol as pq
from .auth import ScramSecret
from .govern import Governor, Plan
from .upstream import UpstreamConnection, UpstreamPool


class ClientIO(Protocol):
    async def read(self, n: int) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def start_tls(self, context: ssl.SSLContext) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class User:
    """A proxy login: its SCRAM secret, the principal it acts as, and the default purpose."""

    name: str
    secret: ScramSecret
    principal: Principal
    default_purpose: str | None


@dataclass
class Limits:
    max_message: int = 1 << 24
    idle_timeout: float = 0.0
    auth_timeout: float = 30.0
    allow_cleartext: bool = False


@dataclass
class Statement:
    plan: Plan
    param_types: tuple[int, ...]
    upstream: bool


@dataclass
class Portal:
    statement: Statement
    upstream: bool
    result: DpResult | None = None
    columns: list[pq.Column] = field(default_factory=list)
    formats: tuple[int, ...] = ()
    position: int = 0


class Closed(Exception):
    """The client went away (or must be disconnected); the session ends quietly."""


class SessionBase:
    """Per-connection state and plumbing; the protocol flows are mixins over it (see ``session.Session``)."""

    def __init__(self, io: ClientIO, governor: Governor, pool: UpstreamPool, users: dict[str, User], *,
                 limits: Limits | None = None, tls: ssl.SSLContext | None = None,
                 register: Callable[[Any], tuple[int, int]] | None = None,
                 unregister: Callable[[Any], None] | None = None,
                 on_cancel: Callable[[tuple[int, int]], Awaitable[None]] | None = None,
                 startup_sql: tuple[str, ...] = ()) -> None:
        self.io = io
        self.gov = governor
        self.pool = pool
        self.users = users
        self.limits = limits or Limits()
        self.tls = tls
        self.tls_active = False
        self._register = register
        self._unregister = unregister
        self._on_cancel = on_cancel
        self._startup_sql = startup_sql
        self.framer = pq.Framer(self.limits.max_message)
        self.up: UpstreamConnection | None = None
        self.user: User | None = None
        self.purpose = ""
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, Portal] = {}
        self._up_out = bytearray()
        self._expect: list[tuple[str, Any]] = []
        self._discarding = False
        self._exit_queued = False  # a COMMIT/ROLLBACK is queued in this extended batch: the status may change
        self._out = bytearray()
        self.busy = False
        self.pinned = False  # the upstream holds state of this session (SET, named statements): keep it leased
        # The session's search_path as the client set it (None: never set, or reset), for the analyzer; and
        # whether it may differ from the upstream's (a SET in a block that may roll back): re-read when idle.
        self.search_path: tuple[str, ...] | None = None
        self._path_dirty = False
        self._settings: tuple[str, ...] = ()

    # ---- client I/O ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue bytes for the client; they are written in one go at the next ``_drain`` (fewer syscalls)."""
        self._out += data

    async def _drain(self) -> None:
        if self._out:
            self.io.write(bytes(self._out))
            self._out.clear()
        await self.io.drain()

    async def _read_more(self, timeout: float = 0.0) -> None:
        if self._out:  # answer everything pending before waiting for the client
            await self._drain()
        try:
            data = await (asyncio.wait_for(self.io.read(65536), timeout) if timeout > 0 else self.io.read(65536))
        except TimeoutError as exc:
            self.send(pq.error_response("57P05", "terminating connection due to idle timeout", severity="FATAL"))
            raise Closed from exc
        except (ConnectionError, OSError) as exc:
            raise Closed from exc
        if not data:
            raise Closed
        self.framer.feed(data)

    async def _next_startup(self) -> pq.Startup:
        while (s := self.framer.next_startup()) is None:
            await self._read_more(self.limits.auth_timeout)
        return s

    async def _next_message(self, timeout: float = 0.0) -> tuple[int, bytes]:
        while (m := self.framer.next_message()) is None:
            await self._read_more(timeout)
        return m

    # ---- upstream ------------------------------------------------------------------------------

    async def _lease(self) -> None:
        """Take an upstream connection for the next transaction, with this session's settings applied."""
        up = await self.pool.acquire()
        try:
            if up.applied != self._settings:
                if up.applied:
                    await up.simple("RESET ALL")
                for sql in self._settings:
                    await up.simple(sql)
                up.applied = self._settings
        except BaseException:
            up.broken = True
            await self.pool.release(up)
            raise
        self.up = up

    def _maybe_return(self) -> None:
        """Between transactions, give the upstream connection back so idle clients hold none (transaction
        pooling); sessions with upstream state (SET, named statements) keep theirs."""
        up = self.up
        if (up is None or self.pinned or self.busy or up.status != "I" or self._expect or self._up_out
                or self.framer.buffered or up.buf):
            return
        self.up = None
        self.statements.pop("", None)
        self.portals.clear()
        self.pool.release_idle(up)

    @property
    def principal(self) -> Principal:
        assert self.user is not None
        return self.user.principal

    @property
    def status(self) -> str:
        return self.up.status if self.up else "I"

    async def _relay(self, request: bytes, drop: bytes = b"") -> None:
        """Send ``request`` upstream and stream every response to the client through ReadyForQuery."""
        up = self.up
        assert up is not None
        up.send(request)
        self.busy = True
        await self._pump(up, {b"Z"[0]}, drop, stop_on_error=False)
        self.busy = False

    async def _pump(self, up: UpstreamConnection, terminal: set[int], drop: bytes, stop_on_error: bool) -> int:
        """Stream upstream messages to the client until one whose type is in ``terminal``; return its type."""
        reader = up.reader
        buf = up.buf
        while True:
            pos = flushed = 0
            while (end := pq.frame_end(buf, pos)) > 0:
                kind = buf[pos]
                if kind in drop:
                    self.send(bytes(buf[flushed:pos]))
                    flushed = end
                if kind == 90:  # 'Z'
                    up.status = chr(buf[pos + 5])
                if kind in terminal or (stop_on_error and kind == 69):  # 'E'
                    self.send(bytes(buf[flushed:end]))
                    del buf[:end]
                    return kind
                pos = end
            if pos > flushed:
                self.send(bytes(buf[flushed:pos]))
            del buf[:pos]
            await self._drain()
            chunk = await reader.read(65536)
            if not chunk:
                up.broken = True
                raise UpstreamError("the upstream connection closed", code="upstream_lost")
            buf += chunk

    async def _flush_pipeline(self, sync: bool) -> None:
        """Answer the queued extended-protocol messages (``extended.ExtendedProtocol``)."""
        raise NotImplementedError
