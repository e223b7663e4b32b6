"""Client authentication: SCRAM-SHA-256 (``scramp``) against secrets stored the way PostgreSQL stores them.

A user's secret is ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (base64 parts), the
format of ``pg_authid.rolpassword``; ``privgate serve --hash-password`` prints one. The password itself
is never stored, and the proxy never needs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import scramp

from privgate.engine.errors import ConfigError

_SECRET = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")
MECHANISM = "SCRAM-SHA-256"


@dataclass(frozen=True)
class ScramSecret:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def parse(cls, text: str) -> ScramSecret:
        m = _SECRET.match(text.strip())
        if m is None:
            raise ConfigError("serve.users.*.secret must be a SCRAM-SHA-256 secret "
                              "(SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>); "
                              "create one with `privgate serve --hash-password`", code="config_invalid_secret")
        return cls(int(m.group(1)), base64.b64decode(m.group(2)), base64.b64decode(m.group(3)),
                   base64.b64decode(m.group(4)))


def hash_password(password: str, iterations: int = 4096) -> str:
    salt, stored, server, it = scramp.ScramMechanism(MECHANISM).make_auth_info(password, iteration_count=iterations)
    b = base64.b64encode
    return f"SCRAM-SHA-256${it}:{b(salt).decode()}${b(stored).decode()}:{b(server).decode()}"


class AuthFailed(Exception):
    """The client's SCRAM proof (or message) was wrong: the login fails with 28P01."""


class ScramExchange:
    """The server side of one SCRAM-SHA-256 exchange (RFC 5802/7677), without channel binding.

    Written out (it is short) because libpq sends an empty SCRAM user name (``n=``; the user is the
    startup packet's) and scramp's server rejects that; scramp still supplies secret generation and the
    upstream client side.
    """

    def __init__(self, secret: ScramSecret, nonce: str | None = None) -> None:
        self._secret = secret
        self._nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self._auth_prefix = ""
        self._gs2 = ""
        self._combined = ""

    def first(self, client_first: str) -> str:
        parts = client_first.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y") or parts[1]:
            raise AuthFailed("unsupported SCRAM gs2 header (channel binding is not offered)")
        self._gs2 = f"{parts[0]},{parts[1]},"
        bare = parts[2]
        attrs = dict(a.split("=", 1) for a in bare.split(",") if "=" in a)
        cnonce = attrs.get("r", "")
        if not cnonce:
            raise AuthFailed("SCRAM client nonce missing")
        self._combined = cnonce + self._nonce
        s = self._secret
        server_first = f"r={self._combined},s={base64.b64encode(s.salt).decode()},i={s.iterations}"
        self._auth_prefix = f"{bare},{server_first}"
        return server_first

    def final(self, client_final: str) -> str:
        without_proof, sep, proof_b64 = client_final.rpartition(",p=")
        attrs = dict(a.split("=", 1) for a in without_proof.split(",") if "=" in a)
        if not sep or attrs.get("r") != self._combined or \
                attrs.get("c") != base64.b64encode(self._gs2.encode()).decode():
            raise AuthFailed("SCRAM final message does not match the exchange")
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        s = self._secret
        signature = hmac.new(s.stored_key, auth_message, "sha256").digest()
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError as exc:
            raise AuthFailed("SCRAM proof is not base64") from exc
        if len(proof) != len(signature):
            raise AuthFailed("SCRAM proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), s.stored_key):
            raise AuthFailed("wrong password")
        return "v=" + base64.b64encode(hmac.new(s.server_key, auth_message, "sha256").digest()).decode()


def check_cleartext(secret: ScramSecret, password: str) -> bool:
    """Verify a cleartext password (only used over TLS when enabled) against the SCRAM secret."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), secret.salt, secret.iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), secret.stored_key)
