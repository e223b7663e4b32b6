"""PostgreSQL protocol v3 message codec: framing, decoding of frontend messages, encoding of backend ones.

Pure functions and one incremental ``Framer``: no sockets here, so the codec is tested by feeding bytes.
Framing is bounded (``max_message``) because a length word is attacker-controlled: a client that
announces a 2 GB message is refused before anything is buffered.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")
_HEADER = struct.Struct("!ci")

# Frontend message types (the first byte) that this proxy understands.
FRONTEND_TYPES = frozenset(b"QPBDECSHXpF")


class ProtocolError(Exception):
    """The peer broke the protocol: the connection is answered with an error (08P01) and closed."""

    def __init__(self, message: str, sqlstate: str = "08P01") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Startup:
    """The first message of a connection: a startup packet, or an SSL/GSSENC/cancel request."""

    code: int
    params: dict[str, str] = field(default_factory=dict)
    cancel_key: tuple[int, int] | None = None


class Framer:
    """Cuts a byte stream into ``(type, payload)`` messages; ``max_message`` bounds a single message."""

    def __init__(self, max_message: int = 1 << 24) -> None:
        self.max_message = max_message
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_startup(self) -> Startup | None:
        """The untyped startup-phase message, once complete."""
        if len(self._buf) < 8:
            return None
        (length,) = _I32.unpack_from(self._buf, 0)
        if length < 8 or length > 10_000:
            raise ProtocolError(f"invalid startup packet length {length}")
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[4:length])
        del self._buf[:length]
        return decode_startup(body)

    def next_message(self) -> tuple[int, bytes] | None:
        if len(self._buf) < 5:
            return None
        kind, length = _HEADER.unpack_from(self._buf, 0)
        if length < 4:
            raise ProtocolError(f"invalid message length {length}")
        if length - 4 > self.max_message:
            raise ProtocolError(f"message of {length} bytes exceeds the limit of {self.max_message}", "54000")
        end = 1 + length
        if len(self._buf) < end:
            return None
        payload = bytes(self._buf[5:end])
        del self._buf[:end]
        return kind[0], payload


def decode_startup(body: bytes) -> Startup:
    if len(body) < 4:
        raise ProtocolError("startup packet too short")
    (code,) = _I32.unpack_from(body, 0)
    if code == CANCEL_REQUEST:
        if len(body) != 12:
            raise ProtocolError("malformed cancel request")
        pid, secret = struct.unpack_from("!ii", body, 4)
        return Startup(code, cancel_key=(pid, secret))
    if code in (SSL_REQUEST, GSSENC_REQUEST):
        return Startup(code)
    if code != PROTOCOL_V3:
        raise ProtocolError(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 3.0",
                            "0A000")
    parts = body[4:].split(b"\x00")
    if len(parts) < 2 or parts[-1] != b"" or parts[-2] != b"":
        raise ProtocolError("startup packet is not NUL-terminated")
    words = [p.decode("utf-8", "replace") for p in parts[:-2]]
    if len(words) % 2:
        raise ProtocolError("startup packet has an odd number of strings")
    return Startup(code, params=dict(zip(words[::2], words[1::2], strict=True)))


class Payload:
    """Cursor over one message payload; every read is bounds-checked (malformed input -> ProtocolError)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def cstr(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError("string field is not NUL-terminated")
        s = self.data[self.pos:end].decode("utf-8", "replace")
        self.pos = end + 1
        return s

    def i16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise ProtocolError("message truncated")
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise ProtocolError("message truncated")
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("message truncated")
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def byte(self) -> int:
        return self.take(1)[0]


@dataclass(frozen=True)
class ParseMsg:
    name: str
    sql: str
    param_types: tuple[int, ...]


@dataclass(frozen=True)
class BindMsg:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


def decode_parse(data: bytes) -> ParseMsg:
    p = Payload(data)
    name, sql = p.cstr(), p.cstr()
    n = p.i16()
    return ParseMsg(name, sql, tuple(p.i32() for _ in range(max(n, 0))))


def decode_bind(data: bytes) -> BindMsg:
    p = Payload(data)
    portal, statement = p.cstr(), p.cstr()
    formats = tuple(p.i16() for _ in range(max(p.i16(), 0)))
    values: list[bytes | None] = []
    for _ in range(max(p.i16(), 0)):
        n = p.i32()
        values.append(None if n == -1 else p.take(n))
    results = tuple(p.i16() for _ in range(max(p.i16(), 0)))
    if p.pos != len(data):
        raise ProtocolError("trailing bytes in Bind")
    return BindMsg(portal, statement, formats, tuple(values), results)


def decode_target(data: bytes) -> tuple[str, str]:
    """Describe / Close: ('S' or 'P', name)."""
    p = Payload(data)
    kind = chr(p.byte())
    if kind not in "SP":
        raise ProtocolError(f"invalid Describe/Close target {kind!r}")
    return kind, p.cstr()


def decode_execute(data: bytes) -> tuple[str, int]:
    p = Payload(data)
    return p.cstr(), p.i32()


def decode_query(data: bytes) -> str:
    return Payload(data).cstr()


# ---- backend messages -------------------------------------------------------------------------

def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode() + b"\x00"


def encode_bind(b: BindMsg) -> bytes:
    body = bytearray(_cstr(b.portal) + _cstr(b.statement))
    body += _I16.pack(len(b.param_formats)) + b"".join(_I16.pack(f) for f in b.param_formats)
    body += _I16.pack(len(b.params))
    for v in b.params:
        body += _I32.pack(-1) if v is None else _I32.pack(len(v)) + v
    body += _I16.pack(len(b.result_formats)) + b"".join(_I16.pack(f) for f in b.result_formats)
    return message(b"B", bytes(body))


def encode_parse(name: str, sql: str, types: Sequence[int] = ()) -> bytes:
    return message(b"P", _cstr(name) + _cstr(sql) + _I16.pack(len(types)) + b"".join(_I32.pack(t) for t in types))


def encode_describe(kind: str, name: str) -> bytes:
    return message(b"D", kind.encode() + _cstr(name))


def encode_execute(portal: str = "", max_rows: int = 0) -> bytes:
    return message(b"E", _cstr(portal) + _I32.pack(max_rows))


def encode_query(sql: str) -> bytes:
    return message(b"Q", _cstr(sql))


SYNC = message(b"S")
FLUSH = message(b"H")
PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
EMPTY_QUERY = message(b"I")
PORTAL_SUSPENDED = message(b"s")
AUTH_OK = message(b"R", _I32.pack(0))


def ready(status: str) -> bytes:
    return message(b"Z", status.encode())


def startup_packet(params: dict[str, str]) -> bytes:
    body = _I32.pack(PROTOCOL_V3) + b"".join(_cstr(k) + _cstr(v) for k, v in params.items()) + b"\x00"
    return _I32.pack(len(body) + 4) + body


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", _cstr(name) + _cstr(value))


def backend_key(pid: int, secret: int) -> bytes:
    return message(b"K", struct.pack("!ii", pid, secret))


def command_complete(tag: str) -> bytes:
    return message(b"C", _cstr(tag))


def _fields(severity: str, sqlstate: str, msg: str, detail: str | None, hint: str | None) -> bytes:
    parts = [b"S" + _cstr(severity), b"V" + _cstr(severity), b"C" + _cstr(sqlstate), b"M" + _cstr(msg)]
    if detail:
        parts.append(b"D" + _cstr(detail))
    if hint:
        parts.append(b"H" + _cstr(hint))
    return b"".join(parts) + b"\x00"


def error_response(sqlstate: str, msg: str, detail: str | None = None, hint: str | None = None,
                   severity: str = "ERROR") -> bytes:
    return message(b"E", _fields(severity, sqlstate, msg, detail, hint))


def notice_response(msg: str, detail: str | None = None, sqlstate: str = "00000") -> bytes:
    return message(b"N", _fields("NOTICE", sqlstate, msg, detail, None))


def parse_fields(data: bytes) -> dict[str, str]:
    """ErrorResponse / NoticeResponse fields by their one-letter code."""
    out: dict[str, str] = {}
    for part in data.split(b"\x00"):
        if part:
            out[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return out


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_size: int = -1
    type_mod: int = -1


def row_description(columns: Sequence[Column], formats: Sequence[int] = ()) -> bytes:
    body = bytearray(_I16.pack(len(columns)))
    for i, c in enumerate(columns):
        fmt = result_format(formats, i)
        body += _cstr(c.name) + struct.pack("!ihihih", 0, 0, c.type_oid, c.type_size, c.type_mod, fmt)
    return message(b"T", bytes(body))


def parameter_description(types: Sequence[int]) -> bytes:
    return message(b"t", _I16.pack(len(types)) + b"".join(_I32.pack(t) for t in types))


def data_row(values: Iterable[bytes | None]) -> bytes:
    vals = list(values)
    body = bytearray(_I16.pack(len(vals)))
    for v in vals:
        body += _I32.pack(-1) if v is None else _I32.pack(len(v)) + v
    return message(b"D", bytes(body))


def result_format(formats: Sequence[int], i: int) -> int:
    if not formats:
        return 0
    return formats[0] if len(formats) == 1 else (formats[i] if i < len(formats) else 0)


def frame_end(buf: bytes | bytearray | memoryview, start: int = 0) -> int:
    """End offset of the complete backend message at ``start``, or -1 when it is not complete yet."""
    if len(buf) - start < 5:
        return -1
    (length,) = _I32.unpack_from(buf, start + 1)
    end = start + 1 + length
    return end if len(buf) >= end else -1
