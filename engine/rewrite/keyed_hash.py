"""Keyed HMAC-SHA256 computed inside the warehouse, without the key ever appearing in SQL text.

Why this shape: an unkeyed hash of an email is a lookup table away from the email, so masking must be
keyed; but the SQL we return is displayed to users and stored in decision records, so the key cannot be a
literal in it. HMAC is ``H((K' ^ opad) || H((K' ^ ipad) || m))`` with ``K'`` the key padded to the 64-byte
block: the two padded keys are all the warehouse needs, and they travel as *bind parameters* (hex strings)
next to the SQL. Only the plain SHA-256 of each dialect is used, so no extension (pgcrypto) is required and
the same construction runs on PostgreSQL >= 11, DuckDB, Snowflake, BigQuery and Trino.

The pads are key-equivalent secrets: executors must bind them and never log them.

``hash`` uses the mask key itself, so ``hmac.new(key, value.encode(), "sha256").hexdigest()`` in Python
equals the warehouse's value (operators can look up a known value). ``tokenize`` uses a key derived from
the mask key with a fixed label, so tokens cannot be compared with hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp

from ..errors import RewriteError

MIN_KEY_BYTES = 16
TOKENIZE_LABEL = b"privgate/mask/tokenize/v1"
TOKEN_PREFIX = "tok_"
TOKEN_HEX_CHARS = 16

_BLOCK = 64  # SHA-256 block size in bytes
_VALUE, _IPAD, _OPAD = "__privgate_value__", "__privgate_ipad__", "__privgate_opad__"

# One template per dialect, parsed in that dialect; the three sentinel columns are replaced per use.
# Every template returns the lower-case hex HMAC of the UTF-8 bytes of CAST(value AS text).
_TEMPLATES: dict[str, str] = {
    "postgres": f"ENCODE(SHA256(DECODE({_OPAD}, 'hex') || SHA256(DECODE({_IPAD}, 'hex') "
                f"|| CONVERT_TO(CAST({_VALUE} AS TEXT), 'UTF8'))), 'hex')",
    "duckdb": f"SHA256(UNHEX({_OPAD}) || UNHEX(SHA256(UNHEX({_IPAD}) || ENCODE(CAST({_VALUE} AS TEXT)))))",
    "snowflake": f"HEX_ENCODE(SHA2_BINARY(HEX_DECODE_BINARY({_OPAD}) "
                 f"|| SHA2_BINARY(HEX_DECODE_BINARY({_IPAD}) "
                 f"|| TO_BINARY(CAST({_VALUE} AS VARCHAR), 'UTF-8'), 256), 256), 0)",
    "bigquery": f"TO_HEX(SHA256(FROM_HEX({_OPAD}) || SHA256(FROM_HEX({_IPAD}) "
                f"|| CAST(CAST({_VALUE} AS STRING) AS BYTES))))",
    "trino": f"LOWER(TO_HEX(SHA256(FROM_HEX({_OPAD}) || SHA256(FROM_HEX({_IPAD}) "
             f"|| TO_UTF8(CAST({_VALUE} AS VARCHAR))))))",
}
SUPPORTED_DIALECTS = tuple(sorted(_TEMPLATES))


@dataclass(frozen=True)
class KeyPads:
    """The two HMAC pads of one key, hex-encoded, and the bind-parameter names they travel under."""

    ipad_param: str
    opad_param: str
    ipad_hex: str
    opad_hex: str

    def params(self) -> dict[str, str]:
        return {self.ipad_param: self.ipad_hex, self.opad_param: self.opad_hex}


def derive_pads(key: bytes, name: str) -> KeyPads:
    """Pads exactly as RFC 2104 defines them (keys longer than a block are hashed first)."""
    if len(key) < MIN_KEY_BYTES:
        raise RewriteError(
            f"hash/tokenize masking needs a secret mask key of at least {MIN_KEY_BYTES} bytes; "
            f"got {len(key)}. Configure the engine's mask key (a random secret kept out of the catalog).",
            code="rewrite_mask_key_missing")
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    block = block.ljust(_BLOCK, b"\0")
    return KeyPads(
        ipad_param=f"privgate_{name}_ipad", opad_param=f"privgate_{name}_opad",
        ipad_hex=bytes(b ^ 0x36 for b in block).hex(), opad_hex=bytes(b ^ 0x5C for b in block).hex())


def placeholder_pads(name: str) -> KeyPads:
    """Pads with the right parameter names and no values: SQL for review when no key is configured."""
    return KeyPads(ipad_param=f"privgate_{name}_ipad", opad_param=f"privgate_{name}_opad", ipad_hex="", opad_hex="")


def tokenize_key(key: bytes) -> bytes:
    """A key for tokens that is independent of the hash key (tokens are not comparable with hashes)."""
    return hmac.new(key, TOKENIZE_LABEL, "sha256").digest()


@cache
def _template(dialect: str) -> exp.Expr:
    return sqlglot.parse_one(_TEMPLATES[dialect], read=dialect)


def hmac_hex(value: exp.Expr, pads: KeyPads, dialect: str) -> exp.Expr:
    """SQL for the lower-case hex HMAC-SHA256 of ``value`` (as text), keyed by bind parameters."""
    if dialect not in _TEMPLATES:
        raise RewriteError(
            f"keyed hashing is not implemented for dialect {dialect!r} (supported: "
            f"{', '.join(SUPPORTED_DIALECTS)}); use method 'redact' for this warehouse or add a template",
            code="rewrite_unsupported_dialect")
    replacements = {_VALUE: value, _IPAD: exp.Placeholder(this=pads.ipad_param),
                    _OPAD: exp.Placeholder(this=pads.opad_param)}

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name in replacements and not node.table:
            return replacements[node.name].copy()
        return node

    return _template(dialect).transform(swap)
