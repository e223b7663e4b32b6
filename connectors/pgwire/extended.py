"""The extended query protocol: Parse/Bind/Describe/Execute/Close answered in order at Sync or Flush.

Messages are handled as they arrive (decided at Parse, DP answered at Bind), forwarded messages are queued
for the upstream, and ``_flush_pipeline`` answers the queue in order, mixing the upstream's responses with
the proxy's own (DP answers, denials). After an error everything up to Sync is discarded, as PostgreSQL does.
"""

from __future__ import annotations

from . import protocol as pq
from . import values
from .planning import Planning, dp_columns
from .session_base import Closed, Portal, Statement
from .transaction import EXIT_STATEMENTS, swallow_error
from .upstream import UpstreamConnection

_TERMINAL = {ord("P"): b"1", ord("B"): b"2", ord("E"): b"CIs", ord("C"): b"3", ord("S"): b"Z", ord("D"): b"Tn"}


class ExtendedProtocol(Planning):
    """The P/B/D/E/C/S/H/X handlers and the ordered answer queue."""

    def _local(self, data: bytes) -> None:
        self._expect.append(("local", data))

    def _forward(self, data: bytes, kind: int) -> None:
        self._up_out += data
        self._expect.append(("up", _TERMINAL[kind]))

    def _error(self, state: str, message: str, detail: str = "", hint: str = "") -> None:
        self._local(pq.error_response(state, message, detail or None, hint or None))
        self._discarding = True
        self._abort_batch()

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
            portal.columns = dp_columns(result)
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
                self._local(pq.row_description(dp_columns(result)))
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
                await swallow_error(up)
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

