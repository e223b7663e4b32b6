"""The data owner's client mod: refuse every train/evaluate message without a valid round token.

Defence in depth: the server-side strategy already sends only to authorized nodes; this mod, run by
the domain in its own SuperNode, checks again on its side — the token must verify with the
federation key, name this node's domain among the authorized ones, and serve a purpose the domain
allows. Anything else gets an error reply and the ClientApp never sees the message (so no data is
read for it). Put it first in the ClientApp's ``mods``.
"""

from __future__ import annotations

from collections.abc import Collection

from flwr.app import ConfigRecord, Context, Error, Message
from flwr.clientapp.typing import ClientAppCallable, Mod

from .tokens import TOKEN_KEY, TokenError, TokenSigner

REFUSED = 4030  # Flower error code of a governance refusal (Flower's own codes are < 1000)


def governed_mod(domain: str, signer: TokenSigner, purposes: Collection[str], *,
                 refusals: list[str] | None = None) -> Mod:
    """A Flower mod for ``domain``; ``refusals`` (optional) collects the reasons it refused."""

    def mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
        try:
            record = msg.content.config_records.get(TOKEN_KEY) if msg.has_content() else None
            if not isinstance(record, ConfigRecord):
                raise TokenError("message carries no privgate round token (ungoverned round)")
            token = signer.verify(dict(record))
            if domain not in token.domains:
                raise TokenError(f"round {token.round} of {token.job} did not authorize domain {domain}")
            if token.purpose not in purposes:
                raise TokenError(f"domain {domain} does not allow purpose {token.purpose!r}")
        except TokenError as exc:
            if refusals is not None:
                refusals.append(exc.message)
            return Message(Error(code=REFUSED, reason=f"{exc.code}: {exc.message}"), reply_to=msg)
        # the app (and mods after this one, e.g. Flower's fixedclipping_mod, which wants exactly one
        # ConfigRecord) see the message as the strategy built it
        del msg.content[TOKEN_KEY]
        return call_next(msg, ctx)

    return mod
