"""Python values → PostgreSQL wire values (text and binary) for answers the proxy computes itself (DP)."""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .protocol import Column, ProtocolError

BOOL, INT8, TEXT, FLOAT8, NUMERIC, DATE, TIMESTAMP, INT4 = 16, 20, 25, 701, 1700, 1082, 1114, 23
_SIZES = {BOOL: 1, INT8: 8, FLOAT8: 8, DATE: 4, TIMESTAMP: 8, INT4: 4}
_PG_EPOCH = dt.date(2000, 1, 1)


def oid_of(values: Sequence[Any], aggregate: str | None) -> int:
    """The column type: counts are int8, other aggregates float8, keys typed by their values."""
    if aggregate is not None:
        return INT8 if aggregate.startswith("count") else FLOAT8
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return BOOL
    if isinstance(sample, int):
        return INT8
    if isinstance(sample, float):
        return FLOAT8
    if isinstance(sample, Decimal):
        return NUMERIC
    if isinstance(sample, dt.datetime):
        return TIMESTAMP
    if isinstance(sample, dt.date):
        return DATE
    return TEXT


def column(name: str, oid: int) -> Column:
    return Column(name, oid, _SIZES.get(oid, -1))


def encode(v: Any, oid: int, fmt: int) -> bytes | None:
    if v is None:
        return None
    if fmt == 0:
        return _text(v, oid).encode()
    if oid == INT8:
        return struct.pack("!q", round(v))
    if oid == FLOAT8:
        return struct.pack("!d", float(v))
    if oid == BOOL:
        return b"\x01" if v else b"\x00"
    if oid == TEXT:
        return str(v).encode()
    if oid == DATE:
        return struct.pack("!i", (v - _PG_EPOCH).days)
    if oid == TIMESTAMP:
        delta = v - dt.datetime(2000, 1, 1)
        return struct.pack("!q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    raise ProtocolError(f"binary format is not supported for type oid {oid} in privgate answers", "0A000")


def _text(v: Any, oid: int) -> str:
    if isinstance(v, bool):
        return "t" if v else "f"
    if oid == INT8:
        return str(round(v))
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)
