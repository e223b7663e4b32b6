"""The simple query protocol: one Query, planned, then relayed, rewritten, answered with DP or denied.

Every response ends with ReadyForQuery carrying the upstream's transaction status. A rewrite that needs the
mask-key pads runs as an unnamed extended-protocol statement upstream (pads bound as parameters, never
inlined); its ParseComplete/BindComplete/NoData are dropped so the client sees a simple-query answer.
"""

from __future__ import annotations

from . import protocol as pq
from . import values
from .govern import Plan
from .planning import Planning, dp_columns


class SimpleQuery(Planning):
    """The 'Q' handler."""

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
                columns = dp_columns(result)
                self.send(pq.row_description(columns))
                for row in result.rows:
                    self.send(pq.data_row(values.encode(v, c.type_oid, 0) for v, c in zip(row, columns, strict=True)))
                self.send(pq.command_complete(f"SELECT {len(result.rows)}"))
                self._dp_notice(result)
            else:
                await self._abort_block()
            self.send(pq.ready(self.status))

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

