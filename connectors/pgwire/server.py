"""The asyncio shell around ``Session``: listening socket, TLS context, connection limit, cancel routing,
and the Prometheus ``/metrics`` endpoint. No protocol logic lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable

from . import protocol as pq
from .govern import Governor
from .session import Limits, Session, User, new_key
from .upstream import UpstreamPool

log = logging.getLogger("privgate.serve")


class StreamIO:
    """``ClientIO`` over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self, n: int) -> bytes:
        return await self.reader.read(n)

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        if not self.writer.is_closing():
            await self.writer.drain()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.writer.start_tls(context)

    def close(self) -> None:
        self.writer.close()


class ProxyServer:
    def __init__(self, governor: Governor, pool: UpstreamPool, users: dict[str, User], *,
                 limits: Limits | None = None, tls: ssl.SSLContext | None = None, max_connections: int = 1000,
                 startup_sql: tuple[str, ...] = ()) -> None:
        self.governor = governor
        self.pool = pool
        self.users = users
        self.limits = limits or Limits()
        self.tls = tls
        self.max_connections = max_connections
        self.startup_sql = startup_sql
        self.sessions: dict[tuple[int, int], Session] = {}
        self._keys: dict[int, tuple[int, int]] = {}
        self.active = 0
        self._server: asyncio.Server | None = None
        self._metrics_server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._client, host, port, limit=1 << 16)
        return int(self._server.sockets[0].getsockname()[1])

    async def start_metrics(self, host: str, port: int) -> int:
        self._metrics_server = await asyncio.start_server(self._metrics, host, port)
        return int(self._metrics_server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        for srv in (self._server, self._metrics_server):
            if srv is not None:
                srv.close()
        for session in list(self.sessions.values()):
            session.io.close()
        await asyncio.sleep(0.05)  # let the sessions' finally blocks run
        self.pool.close()
        await asyncio.to_thread(self.governor.dp.close)

    def _register(self, session: Session) -> tuple[int, int]:
        key = new_key()
        self.sessions[key] = session
        self._keys[id(session)] = key
        return key

    def _unregister(self, session: Session) -> None:
        key = self._keys.pop(id(session), None)
        if key is not None:
            self.sessions.pop(key, None)

    async def _cancel(self, key: tuple[int, int]) -> None:
        session = self.sessions.get(key)
        if session is not None and session.up is not None and session.busy:
            with contextlib.suppress(OSError):
                await self.pool.cancel(session.up.key)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        metrics = self.governor.metrics
        io = StreamIO(reader, writer)
        if self.active >= self.max_connections:
            io.write(pq.error_response("53300", "sorry, too many clients already", severity="FATAL"))
            with contextlib.suppress(Exception):
                await io.drain()
            io.close()
            return
        self.active += 1
        metrics.connections = self.active
        metrics.connections_total += 1
        session = Session(io, self.governor, self.pool, self.users, limits=self.limits, tls=self.tls,
                          register=self._register, unregister=self._unregister, on_cancel=self._cancel,
                          startup_sql=self.startup_sql)
        try:
            await session.run()
        except Exception:  # never let one connection take the server down
            log.exception("session failed")
        finally:
            self.active -= 1
            metrics.connections = self.active

    async def _metrics(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            ok = line.split(b" ")[1:2] == [b"/metrics"]
            body = self.governor.metrics.render().encode() if ok else b"not found\n"
            status = b"200 OK" if ok else b"404 Not Found"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def run_loop(main: Callable[[], object]) -> None:
    """Run the server coroutine factory on uvloop when installed, else asyncio."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(main())  # type: ignore[arg-type,unused-ignore]
    except ImportError:
        asyncio.run(main())  # type: ignore[arg-type]
