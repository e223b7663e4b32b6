"""One client connection: the protocol state machine, independent of how bytes arrive.

``Session.run`` drives startup → authentication → the message loop over a ``ClientIO`` (the asyncio
server's stream, or an in-memory pipe in tests). Frontend messages are dispatched by type through a
table. Every Query and Parse is planned by the ``Governor``; allowed statements are relayed to the
leased upstream connection message-aware (frames are scanned, never re-encoded, and the client is
drained after every chunk so a large result is never buffered whole).

Extended protocol: messages are handled as they arrive (decided at Parse and Bind), forwarded
statements are queued for the upstream and answered in order with the proxy's own responses (DP
answers, denials) when the client sends Sync or Flush. After an error everything up to Sync is
discarded, as PostgreSQL does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from privgate.engine.decision import Principal
from privgate.engine.dp import DpResult
from privgate.engine.dp.errors import UpstreamError
from privgate.engine.errors import PrivgateError

from . import protocol as pq
from . import values
from .auth import MECHANISM, ScramExchange, ScramSecret, check_cleartext
from .classify import parse_search_path
from .govern import DENY_SQLSTATE, Governor, Plan
from .upstream import ABORT_BIND, UpstreamConnection, UpstreamPool

log = logging.getLogger("privgate.serve")

_TERMINAL = {ord("P"): b"1", ord("B"): b"2", ord("E"): b"CIs", ord("C"): b"3", ord("S"): b"Z", ord("D"): b"Tn"}
# Statements PostgreSQL still runs in a failed transaction block (IsTransactionExitStmt: COMMIT, ROLLBACK,
# ROLLBACK TO SAVEPOINT; END and ABORT are their synonyms). Everything else gets 25P02 until then.
EXIT_STATEMENTS = frozenset({"COMMIT", "END", "ROLLBACK", "ABORT"})
ABORTED_SQLSTATE = "25P02"
ABORTED_MESSAGE = "current transaction is aborted, commands ignored until end of transaction block"
PASSTHROUGH_STARTUP = ("application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits",
                       "IntervalStyle", "datestyle", "timezone")


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


class Session:
    """The per-connection state machine."""

    def __init__(self, io: ClientIO, governor: Governor, pool: UpstreamPool, users: dict[str, User], *,
                 limits: Limits | None = None, tls: ssl.SSLContext | None = None,
                 register: Callable[[Session], tuple[int, int]] | None = None,
                 unregister: Callable[[Session], None] | None = None,
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
        self._dispatch: dict[int, Callable[[bytes], Awaitable[None]]] = {
            ord("Q"): self._on_query, ord("P"): self._on_parse, ord("B"): self._on_bind,
            ord("D"): self._on_describe, ord("E"): self._on_execute, ord("C"): self._on_close,
            ord("S"): self._on_sync, ord("H"): self._on_flush, ord("X"): self._on_terminate,
        }

    # ---- plumbing ------------------------------------------------------------------------------

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

    # ---- lifecycle -----------------------------------------------------------------------------

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

    async def _startup(self) -> bool:
        while True:
            s = await self._next_startup()
            if s.code == pq.SSL_REQUEST:
                if self.tls is None or self.tls_active:
                    self.send(b"N")
                    continue
                if self.framer.buffered:
                    raise pq.ProtocolError("data received before the TLS handshake")
                self.send(b"S")
                await self._drain()
                await self.io.start_tls(self.tls)
                self.tls_active = True
                continue
            if s.code == pq.GSSENC_REQUEST:
                self.send(b"N")
                continue
            if s.code == pq.CANCEL_REQUEST:
                if s.cancel_key is not None and self._on_cancel is not None:
                    await self._on_cancel(s.cancel_key)
                return False
            break
        name = s.params.get("user", "")
        user = self.users.get(name)
        if user is None:
            await self._fail_auth(name)
            return False
        if not await self._authenticate(user):
            return False
        self.user = user
        self.purpose = _purpose_from_startup(s.params) or user.default_purpose or ""
        settings = [f"SET {k} = {_quote(v)}" for k, v in s.params.items() if k in PASSTHROUGH_STARTUP]
        self._settings = (*self._startup_sql, *settings)
        try:
            await self._lease()
        except UpstreamError as exc:
            self.send(pq.error_response("22023", f"cannot start the session upstream: {exc.message}",
                                        severity="FATAL"))
            return False
        assert self.up is not None
        key = self._register(self) if self._register else (0, 0)
        self.send(pq.AUTH_OK)
        params = dict(self.up.parameters)
        params["application_name"] = s.params.get("application_name", "")
        for k, v in params.items():
            if k != "session_authorization":
                self.send(pq.parameter_status(k, v))
        self.send(pq.backend_key(*key))
        self.send(pq.ready(self.up.status))
        self._maybe_return()
        await self._drain()
        log.info(json.dumps({"event": "connect", "user": name, "principal": user.principal.id,
                             "purpose": self.purpose, "tls": self.tls_active}))
        return True

    async def _fail_auth(self, name: str) -> None:
        self.send(pq.error_response("28P01", f'password authentication failed for user "{name}"', severity="FATAL"))
        await self._drain()

    async def _authenticate(self, user: User) -> bool:
        if self.limits.allow_cleartext and self.tls_active:
            self.send(pq.message(b"R", (3).to_bytes(4, "big")))
            await self._drain()
            kind, payload = await self._next_message(self.limits.auth_timeout)
            if kind != ord("p") or not check_cleartext(user.secret, payload.rstrip(b"\x00").decode()):
                await self._fail_auth(user.name)
                return False
            return True
        self.send(pq.message(b"R", (10).to_bytes(4, "big") + MECHANISM.encode() + b"\x00\x00"))
        await self._drain()
        try:
            kind, payload = await self._next_message(self.limits.auth_timeout)
            if kind != ord("p"):
                raise pq.ProtocolError("expected SASLInitialResponse")
            p = pq.Payload(payload)
            if p.cstr() != MECHANISM:
                raise pq.ProtocolError("unsupported SASL mechanism")
            n = p.i32()
            scram = ScramExchange(user.secret)
            server_first = scram.first(p.take(n).decode())
            self.send(pq.message(b"R", (11).to_bytes(4, "big") + server_first.encode()))
            await self._drain()
            kind, payload = await self._next_message(self.limits.auth_timeout)
            if kind != ord("p"):
                raise pq.ProtocolError("expected SASLResponse")
            server_final = scram.final(payload.decode())
        except pq.ProtocolError:
            raise
        except Exception:  # scramp raises its own errors for a wrong proof: a failed login
            await self._fail_auth(user.name)
            return False
        self.send(pq.message(b"R", (12).to_bytes(4, "big") + server_final.encode()))
        return True

    @property
    def principal(self) -> Principal:
        assert self.user is not None
        return self.user.principal

    @property
    def status(self) -> str:
        return self.up.status if self.up else "I"

    def _aborted(self) -> bool:
        """The upstream transaction block has failed (ReadyForQuery 'E') and nothing queued may end it."""
        return self.status == "E" and not self._exit_queued

    def _plan(self, sql: str) -> Plan:
        if self._aborted():
            # In a failed transaction PostgreSQL ignores everything but COMMIT/ROLLBACK. Statements the upstream
            # sees (session, catalog) get its own answer; the rest never reach the engine (no decision, no charge).
            c = self.gov.classify(sql)
            if c.kind not in ("session", "catalog", "empty"):
                return Plan("deny", sqlstate=ABORTED_SQLSTATE, message=ABORTED_MESSAGE)
        if not self.purpose:
            c = self.gov.classify(sql)
            if c.kind not in ("session", "catalog", "empty", "purpose", "show_purpose"):
                return Plan("deny", sqlstate=DENY_SQLSTATE, message="privgate needs a purpose for this session",
                            detail="reason codes: purpose_missing",
                            hint="SET privgate.purpose = '...' or connect with options='-c privgate.purpose=...'")
        t0 = time.perf_counter()
        plan = self.gov.plan(sql, self.principal, self.purpose, self._analyzer_path())
        self.gov.metrics.observe("plan", time.perf_counter() - t0)
        if plan.kind == "deny":
            log.info(json.dumps({"event": "deny", "principal": self.principal.id, "purpose": self.purpose,
                                 "detail": plan.detail}))
        return plan

    # ---- simple query --------------------------------------------------------------------------

    async def _on_query(self, payload: bytes) -> None:
        sql = pq.decode_query(payload)
        if self._expect or self._up_out:
            await self._flush_pipeline(sync=False)
        self._discarding = False
        plan = self._plan(sql)
        if plan.kind == "deny":
            await self._abort_block()
            self.send(pq.error_response(plan.sqlstate, plan.message, plan.detail or None, plan.hint or None))
            self.send(pq.ready(self.status))
        elif plan.kind == "local":
            self._local_simple(plan)
            self.send(pq.ready(self.status))
        elif plan.kind == "pass":
            self._pin_if_stateful(plan)
            await self._relay(pq.message(b"Q", payload))
        elif plan.kind == "rewrite" and not plan.pads:
            self._pin_if_stateful(plan)
            await self._relay(pq.encode_query(plan.sql))
        elif plan.kind == "rewrite":
            self._pin_if_stateful(plan)
            bind = pq.BindMsg("", "", (), tuple(v.encode() for v in plan.pad_values), ())
            await self._relay(pq.encode_parse("", plan.sql) + pq.encode_bind(bind) + pq.encode_describe("P", "")
                              + pq.encode_execute() + pq.SYNC, drop=b"12n")
        else:
            result = await self._dp(plan, ())
            if result is not None:
                columns = _dp_columns(result)
                self.send(pq.row_description(columns))
                for row in result.rows:
                    self.send(pq.data_row(values.encode(v, c.type_oid, 0) for v, c in zip(row, columns, strict=True)))
                self.send(pq.command_complete(f"SELECT {len(result.rows)}"))
                self._dp_notice(result)
            else:
                await self._abort_block()
            self.send(pq.ready(self.status))

    async def _abort_block(self) -> None:
        """After an error the proxy answers itself inside BEGIN ... fail the upstream block, as PostgreSQL would."""
        up = self.up
        if up is not None and up.status == "T":
            self.busy = True
            await up.abort_transaction()
            self.busy = False

    def _pin_if_stateful(self, plan: Plan) -> None:
        if plan.pin:
            self.pinned = True
        c = plan.classified
        if c is not None and c.kind == "session" and c.value in ("SET", "RESET", "DISCARD", "DEALLOCATE"):
            self.pinned = True
            if c.setting == "search_path" or (c.value in ("RESET", "DISCARD") and _resets_all(plan.sql)):
                # Statements planned after this one (a pipeline) see the new path at once; the upstream's
                # value is re-read once the transaction is over (a rollback or SET LOCAL undoes it).
                self.search_path = c.path
                self._path_dirty = True

    def _analyzer_path(self) -> tuple[str, ...] | None:
        """The session's search path as the analyzer needs it: ``$user`` is the proxy's upstream login."""
        if self.search_path is None:
            return None
        return tuple(self.pool.target.user if s == "$user" else s for s in self.search_path)

    async def _settle_search_path(self) -> None:
        """Outside a transaction, read the search_path the upstream really has after a change (COMMIT,
        ROLLBACK, SET LOCAL and failed SETs all decide it). Unchanged from the session default → None."""
        up = self.up
        if not self._path_dirty or up is None or up.status != "I" or self._expect or self._up_out:
            return
        rows = await up.simple("SELECT setting, reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path'")
        setting, reset = rows[0] if rows else (None, None)
        if setting is None or setting == reset:
            self.search_path = None
        else:  # a value privgate cannot read resolves no unqualified name at all (fail closed)
            self.search_path = parse_search_path(setting) or ("",)
        self._path_dirty = False

    def _local_simple(self, plan: Plan) -> None:
        c = plan.classified
        assert c is not None
        if c.kind == "purpose":
            self.purpose = c.value
            self.send(pq.command_complete("SET"))
        else:
            self.send(pq.row_description([pq.Column("privgate.purpose", values.TEXT)]))
            self.send(pq.data_row([self.purpose.encode()]))
            self.send(pq.command_complete("SHOW"))

    async def _dp(self, plan: Plan, params: tuple[str | None, ...]) -> DpResult | None:
        """Run a DP answer off the event loop; on failure an ErrorResponse is sent and None returned."""
        t0 = time.perf_counter()
        try:
            result = await asyncio.to_thread(self.gov.dp.run, plan, self.principal, params)
        except PrivgateError as exc:
            state = "53400" if exc.code.startswith("budget_") else ("58000" if isinstance(exc, UpstreamError)
                                                                     else DENY_SQLSTATE)
            self.send(pq.error_response(state, f"privgate could not answer with differential privacy: {exc.message}",
                                        detail=f"reason codes: {exc.code}"))
            self.gov.metrics.decision("dp_error", exc.code)
            return None
        self.gov.metrics.observe("dp", time.perf_counter() - t0)
        if not result.cached:
            self.gov.metrics.charged(result.charge.epsilon)
        return result

    def _dp_notice(self, result: DpResult) -> None:
        msg, detail = self.gov.dp.notice(result, self.principal.id)
        self.send(pq.notice_response(msg, detail))

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

    # ---- extended protocol ---------------------------------------------------------------------

    def _local(self, data: bytes) -> None:
        self._expect.append(("local", data))

    def _forward(self, data: bytes, kind: int) -> None:
        self._up_out += data
        self._expect.append(("up", _TERMINAL[kind]))

    def _error(self, state: str, message: str, detail: str = "", hint: str = "") -> None:
        self._local(pq.error_response(state, message, detail or None, hint or None))
        self._discarding = True
        self._abort_batch()

    def _abort_batch(self) -> None:
        """An error the proxy answers itself in an extended batch: make the upstream fail at the same point.

        PostgreSQL rolls back the batch's implicit transaction (or fails the open block) after an error; a
        failing statement queued where the error happened gives the upstream exactly that state. Its own
        responses are swallowed: the client sees the proxy's error. Not needed when the block already failed.
        """
        if self._aborted():
            return
        self._up_out += ABORT_BIND
        self._expect.append(("abort", b""))

    async def _on_parse(self, payload: bytes) -> None:
        if self._discarding:
            return
        msg = pq.decode_parse(payload)
        plan = self._plan(msg.sql)
        c = plan.classified
        if c is not None and c.kind == "session" and c.value in EXIT_STATEMENTS:
            self._exit_queued = True
        if plan.kind == "deny":
            self._error(plan.sqlstate, plan.message, plan.detail, plan.hint)
            return
        if msg.name and plan.kind in ("pass", "rewrite"):
            self.pinned = True  # a named statement lives in the upstream backend
        if plan.kind == "pass":
            self._pin_if_stateful(plan)
            st = Statement(plan, msg.param_types, True)
            self._forward(pq.message(b"P", payload), ord("P"))
        elif plan.kind == "rewrite":
            self._pin_if_stateful(plan)
            types = list(msg.param_types[:plan.n_params]) + [0] * (plan.n_params - len(msg.param_types))
            st = Statement(plan, msg.param_types, True)
            self._forward(pq.encode_parse(msg.name, plan.sql, [*types, *[values.TEXT] * len(plan.pads)]), ord("P"))
        else:  # dp and local statements are answered by the proxy and never reach the upstream
            if msg.name and msg.name in self.statements and msg.name != "":
                self._error("42P05", f'prepared statement "{msg.name}" already exists')
                return
            st = Statement(plan, msg.param_types, False)
            self._local(pq.PARSE_COMPLETE)
        self.statements[msg.name] = st

    async def _on_bind(self, payload: bytes) -> None:
        if self._discarding:
            return
        head = pq.Payload(payload)
        portal_name, statement_name = head.cstr(), head.cstr()
        st = self.statements.get(statement_name)
        if st is None:
            pq.decode_bind(payload)  # a malformed Bind is a protocol error even for an unknown statement
            self._error("26000", f'prepared statement "{statement_name}" does not exist')
            return
        plan = st.plan
        if st.upstream and not plan.pads:  # the common case: relay as is, no need to decode the values
            self._forward(pq.message(b"B", payload), ord("B"))
            self.portals[portal_name] = Portal(st, True)
            return
        msg = pq.decode_bind(payload)
        if st.upstream:
            n = len(msg.params)
            fmts = msg.param_formats
            fmts = (fmts * n if len(fmts) == 1 else (fmts or (0,) * n)) + (0,) * len(plan.pads)
            msg = pq.BindMsg(msg.portal, msg.statement, fmts,
                             msg.params + tuple(v.encode() for v in plan.pad_values), msg.result_formats)
            self._forward(pq.encode_bind(msg), ord("B"))
            self.portals[msg.portal] = Portal(st, True)
            return
        portal = Portal(st, False, formats=msg.result_formats)
        if plan.kind == "dp":
            if any(pq.result_format(msg.param_formats, i) == 1 for i in range(len(msg.params))):
                self._error("0A000", "binary parameters are not supported for DP statements; bind them as text")
                return
            params = tuple(None if v is None else v.decode() for v in msg.params)
            await self._flush_pipeline(sync=False)  # keep responses in order before the slow part
            if self._discarding:
                return
            result = await self._dp(plan, params)
            if result is None:
                self._discarding = True
                self._abort_batch()
                await self._drain()
                return
            portal.result = result
            portal.columns = _dp_columns(result)
        self.portals[msg.portal] = portal
        self._local(pq.BIND_COMPLETE)

    async def _on_describe(self, payload: bytes) -> None:
        if self._discarding:
            return
        kind, name = pq.decode_target(payload)
        if kind == "S":
            st = self.statements.get(name)
            if st is None:
                self._error("26000", f'prepared statement "{name}" does not exist')
                return
            if st.upstream:
                self._forward(pq.message(b"D", payload), ord("D"))
                if st.plan.pads:  # hide the proxy's own (mask key) parameters from the client
                    self._expect[-1] = ("trim", st.plan.n_params)
                return
            types = list(st.param_types) + [0] * (st.plan.n_params - len(st.param_types))
            self._local(pq.parameter_description([t or values.TEXT for t in types]))
            if st.plan.kind == "dp":
                if st.plan.n_params:
                    self._error("0A000", "describing a DP statement with parameters before Bind is not supported",
                                hint="describe the portal after Bind instead")
                    return
                await self._flush_pipeline(sync=False)
                if self._discarding:
                    return
                result = await self._dp(st.plan, ())
                if result is None:
                    self._discarding = True
                    self._abort_batch()
                    return
                self._local(pq.row_description(_dp_columns(result)))
            else:
                self._local(self._local_description(st.plan))
            return
        portal = self.portals.get(name)
        if portal is None or portal.upstream:  # unknown here: maybe a SQL cursor (DECLARE), the upstream knows
            self._forward(pq.message(b"D", payload), ord("D"))
        elif portal.result is not None:
            self._local(pq.row_description(portal.columns, portal.formats))
        else:
            self._local(self._local_description(portal.statement.plan))

    def _local_description(self, plan: Plan) -> bytes:
        if plan.classified is not None and plan.classified.kind == "show_purpose":
            return pq.row_description([pq.Column("privgate.purpose", values.TEXT)])
        return pq.NO_DATA

    async def _on_execute(self, payload: bytes) -> None:
        if self._discarding:
            return
        name, max_rows = pq.decode_execute(payload)
        portal = self.portals.get(name)
        if portal is None or portal.upstream:  # unknown here: maybe a SQL cursor (DECLARE), the upstream knows
            self._forward(pq.message(b"E", payload), ord("E"))
            return
        result = portal.result
        if result is None:  # SET / SHOW privgate.purpose through the extended protocol
            c = portal.statement.plan.classified
            assert c is not None
            if c.kind == "purpose":
                self.purpose = c.value
                self._local(pq.command_complete("SET"))
            else:
                self._local(pq.data_row([self.purpose.encode()]) + pq.command_complete("SHOW"))
            return
        rows = result.rows[portal.position:]
        if max_rows > 0:
            rows = rows[:max_rows]
        out = bytearray()
        for row in rows:
            out += pq.data_row(values.encode(v, c.type_oid, pq.result_format(portal.formats, i))
                               for i, (v, c) in enumerate(zip(row, portal.columns, strict=True)))
        portal.position += len(rows)
        if max_rows > 0 and portal.position < len(result.rows):
            out += pq.PORTAL_SUSPENDED
        else:
            out += pq.command_complete(f"SELECT {portal.position}")
            msg, detail = self.gov.dp.notice(result, self.principal.id)
            out += pq.notice_response(msg, detail)
        self._local(bytes(out))

    async def _describe_trimmed(self, up: UpstreamConnection, n_params: int) -> bool:
        """Relay a statement Describe, cutting ParameterDescription to the client's parameters; True on error."""
        await self._drain()
        while True:
            kind, body = await up.read_message()
            if kind == ord("t"):
                types = [pq.Payload(body[2 + 4 * i:6 + 4 * i]).i32() for i in range(n_params)]
                self.send(pq.parameter_description(types))
                continue
            self.send(bytes([kind]) + len(body).__add__(4).to_bytes(4, "big") + body)
            if kind in (ord("T"), ord("n"), ord("E")):
                return kind == ord("E")

    async def _on_close(self, payload: bytes) -> None:
        if self._discarding:
            return
        kind, name = pq.decode_target(payload)
        target: Statement | Portal | None = (self.statements if kind == "S" else self.portals).pop(name, None)
        if target is None or target.upstream:
            self._forward(pq.message(b"C", payload), ord("C"))
        else:
            self._local(pq.CLOSE_COMPLETE)

    async def _on_flush(self, payload: bytes) -> None:
        await self._flush_pipeline(sync=False)

    async def _on_sync(self, payload: bytes) -> None:
        await self._flush_pipeline(sync=True)
        self._discarding = False
        self._exit_queued = False

    async def _on_terminate(self, payload: bytes) -> None:
        raise Closed

    async def _flush_pipeline(self, sync: bool) -> None:
        """Send queued upstream messages, then answer the queue in order, mixing in local responses."""
        up = self.up
        assert up is not None
        if sync:
            self._up_out += pq.SYNC
            self._expect.append(("up", b"Z"))
        elif self._up_out:
            self._up_out += pq.FLUSH
        if self._up_out:
            up.send(bytes(self._up_out))
            self._up_out.clear()
        expect, self._expect = self._expect, []
        self.busy = True
        if sync and all(src == "up" for src, _ in expect):  # nothing to interleave: relay through to ReadyForQuery
            await self._pump(up, {90}, b"", stop_on_error=False)
            self.busy = False
            return
        failed = False
        for source, item in expect:
            if source == "local":
                if not failed:
                    self.send(item)
                continue
            if failed and item != b"Z":
                continue  # the upstream skips everything up to Sync after an error
            if source == "abort":  # the deliberate upstream failure after a local error: not for the client
                await _swallow_error(up)
                failed = True
                continue
            if source == "trim":
                if await self._describe_trimmed(up, item):
                    failed = self._discarding = True
                continue
            kind = await self._pump(up, set(item), b"", stop_on_error=True)
            if kind == 69:
                failed = True
                self._discarding = True
        self.busy = False
        if sync:
            pass  # ReadyForQuery came from the upstream with its transaction status


def _resets_all(sql: str) -> bool:
    """RESET ALL / DISCARD ALL: the search_path returns to its default too."""
    words = sql.upper().replace(";", " ").split()
    return words[:2] in (["RESET", "ALL"], ["DISCARD", "ALL"])


async def _swallow_error(up: UpstreamConnection) -> None:
    """Read (and drop) the upstream's responses up to its ErrorResponse."""
    while (await up.read_message())[0] != 69:  # 'E'
        pass


def _dp_columns(result: DpResult) -> list[pq.Column]:
    cols = []
    for i, c in enumerate(result.columns):
        oid = values.oid_of([row[i] for row in result.rows], c.aggregate if c.kind == "aggregate" else None)
        name = c.name
        # No explicit alias ('' or count(*)'s '*'): name it after the function, as PG does. An explicit alias is
        # kept verbatim even when it is not an identifier (BI tools label metrics `AS "SUM(amount)"`).
        if c.kind == "aggregate" and c.aggregate and name in ("", "*"):
            name = {"count_col": "count", "count_units": "count"}.get(c.aggregate, c.aggregate)
        cols.append(values.column(name, oid))
    return cols


def _purpose_from_startup(params: dict[str, str]) -> str:
    if params.get("privgate.purpose"):
        return params["privgate.purpose"]
    opts = params.get("options", "").replace("--", "-c ").split()
    for i, word in enumerate(opts):
        for cand in (word, opts[i + 1] if word == "-c" and i + 1 < len(opts) else ""):
            if cand.startswith("privgate.purpose="):
                return cand.split("=", 1)[1]
    return ""


def _quote(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def new_key() -> tuple[int, int]:
    return secrets.randbits(31), secrets.randbits(31) - (1 << 30)
