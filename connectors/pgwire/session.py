"""One client connection: the protocol state machine, independent of how bytes arrive.

``Session.run`` drives startup → authentication → the message loop over a ``ClientIO`` (the asyncio
server's stream, or an in-memory pipe in tests). Frontend messages are dispatched by type through a
table to the flows, each in its own module: ``startup`` (negotiation, authentication), ``simple`` (Query),
``extended`` (Parse/Bind/.../Sync), over ``planning`` (decisions, DP answers), ``transaction`` (failed
blocks), ``search_path`` (pinning, the search path) and ``session_base`` (state, client I/O, the relay).
Between transactions the upstream connection goes back to the pool (transaction pooling).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import Awaitable, Callable

from privgate.engine.dp.errors import UpstreamError

from . import protocol as pq
from .extended import ExtendedProtocol
from .govern import Governor
from .session_base import ClientIO, Closed, Limits, User
from .simple import SimpleQuery
from .startup import Startup
from .upstream import UpstreamPool

__all__ = ["ClientIO", "Closed", "Limits", "Session", "User", "new_key"]


class Session(Startup, SimpleQuery, ExtendedProtocol):
    """The per-connection state machine."""

    def __init__(self, io: ClientIO, governor: Governor, pool: UpstreamPool, users: dict[str, User], *,
                 limits: Limits | None = None, tls: ssl.SSLContext | None = None,
                 register: Callable[[Session], tuple[int, int]] | None = None,
                 unregister: Callable[[Session], None] | None = None,
                 on_cancel: Callable[[tuple[int, int]], Awaitable[None]] | None = None,
                 startup_sql: tuple[str, ...] = ()) -> None:
        super().__init__(io, governor, pool, users, limits=limits, tls=tls, register=register,
                         unregister=unregister, on_cancel=on_cancel, startup_sql=startup_sql)
        self._dispatch: dict[int, Callable[[bytes], Awaitable[None]]] = {
            ord("Q"): self._on_query, ord("P"): self._on_parse, ord("B"): self._on_bind,
            ord("D"): self._on_describe, ord("E"): self._on_execute, ord("C"): self._on_close,
            ord("S"): self._on_sync, ord("H"): self._on_flush, ord("X"): self._on_terminate,
        }

    async def run(self) -> None:
        try:
            if not await self._startup():
                return
            while True:
                kind, payload = await self._next_message(self.limits.idle_timeout)
                handler = self._dispatch.get(kind)
                if handler is None:
                    raise pq.ProtocolError(f"unknown frontend message type {chr(kind)!r}")
                if self.up is None and kind != 88:  # 'X'
                    await self._lease()
                await handler(payload)
                await self._settle_search_path()
                self._maybe_return()
        except pq.ProtocolError as exc:
            self.gov.metrics.protocol_errors += 1
            self.send(pq.error_response(exc.sqlstate, f"protocol violation: {exc}", severity="FATAL"))
        except UpstreamError as exc:
            self.send(pq.error_response("08006", f"privgate lost the upstream database: {exc.message}",
                                        detail=f"reason codes: {exc.code}", severity="FATAL"))
        except (Closed, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await self._finish()

    async def _finish(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(self._drain(), 2)
        self.io.close()
        if self._unregister is not None:
            self._unregister(self)
        if self.up is not None:
            up, self.up = self.up, None
            if self.busy:  # the client vanished mid-statement: the connection's state is unknown
                up.broken = True
            await self.pool.release(up)


def new_key() -> tuple[int, int]:
    return secrets.randbits(31), secrets.randbits(31) - (1 << 30)

