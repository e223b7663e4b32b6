"""Connection startup: SSL/GSS negotiation, cancel requests, SCRAM (or cleartext over TLS) authentication,
the purpose from the startup packet, and the first upstream lease with the client's passthrough settings."""

from __future__ import annotations

import json
import logging

from privgate.engine.dp.errors import UpstreamError

from . import protocol as pq
from .auth import MECHANISM, ScramExchange, check_cleartext
from .session_base import SessionBase, User

log = logging.getLogger("privgate.serve")

PASSTHROUGH_STARTUP = ("application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits",
                       "IntervalStyle", "datestyle", "timezone")


class Startup(SessionBase):
    """Startup and authentication; ``_startup`` returns True once the client may send queries."""

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

