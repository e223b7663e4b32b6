"""Round tokens: the server's proof, carried in each message, that privgate allowed this round.

A token names the job, purpose, round, decision id and the authorized domains, and is HMAC-SHA256
signed with a key the governance server and every data owner share (provisioned out of band, e.g.
a secret per federation). The client mod recomputes the MAC: a message from a SuperLink that skipped
governance, or replayed from another job or purpose, is refused even if it reached the node.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from privgate.engine.errors import PrivgateError

TOKEN_KEY = "privgate"


class TokenError(PrivgateError):
    code = "training_token_invalid"


@dataclass(frozen=True)
class RoundToken:
    job: str
    purpose: str
    round: int
    decision_id: str
    domains: tuple[str, ...]

    def payload(self) -> bytes:
        return json.dumps({**asdict(self), "domains": list(self.domains)}, sort_keys=True).encode()


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise TokenError("the federation key must be at least 16 bytes", code="config_fl_key")
        self._key = key

    def sign(self, token: RoundToken) -> dict[str, str | int]:
        """The ConfigRecord fields that carry the token."""
        return {"job": token.job, "purpose": token.purpose, "round": token.round, "decision_id": token.decision_id,
                "domains": ",".join(token.domains), "mac": self._mac(token)}

    def verify(self, fields: dict[str, object]) -> RoundToken:
        try:
            domains = str(fields["domains"])
            token = RoundToken(job=str(fields["job"]), purpose=str(fields["purpose"]), round=int(str(fields["round"])),
                               decision_id=str(fields["decision_id"]),
                               domains=tuple(d for d in domains.split(",") if d))
            mac = str(fields["mac"])
        except (KeyError, ValueError) as exc:
            raise TokenError(f"malformed privgate round token: {exc}") from exc
        if not hmac.compare_digest(mac, self._mac(token)):
            raise TokenError("the privgate round token's signature does not verify (not issued by this federation's "
                             "governance server, or altered)")
        return token

    def _mac(self, token: RoundToken) -> str:
        return hmac.new(self._key, token.payload(), hashlib.sha256).hexdigest()
