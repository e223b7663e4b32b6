"""Failed transaction blocks, as PostgreSQL keeps them.

After any error inside ``BEGIN`` PostgreSQL marks the block failed: every statement but COMMIT/ROLLBACK gets
25P02, COMMIT reports ROLLBACK, ReadyForQuery carries 'E'; in the extended protocol an error also rolls back
the batch's implicit transaction. Errors the upstream raises do that by themselves. For errors the proxy
answers itself (denials, failed DP answers) it makes the upstream fail at the same point — by binding a
statement that does not exist (``upstream.ABORT_BIND``) — so the upstream's own state machine answers from
then on (savepoints, COMMIT → ROLLBACK, settings rolled back) while the client sees privgate's error.
"""

from __future__ import annotations

from .session_base import SessionBase
from .upstream import ABORT_BIND, UpstreamConnection

# Statements PostgreSQL still runs in a failed transaction block (IsTransactionExitStmt: COMMIT, ROLLBACK,
# ROLLBACK TO SAVEPOINT; END and ABORT are their synonyms). Everything else gets 25P02 until then.
EXIT_STATEMENTS = frozenset({"COMMIT", "END", "ROLLBACK", "ABORT"})
ABORTED_SQLSTATE = "25P02"
ABORTED_MESSAGE = "current transaction is aborted, commands ignored until end of transaction block"


class TransactionBlock(SessionBase):
    """Tracks whether the upstream block failed and makes it fail after the proxy's own errors."""

    def _aborted(self) -> bool:
        """The upstream transaction block has failed (ReadyForQuery 'E') and nothing queued may end it."""
        return self.status == "E" and not self._exit_queued

    async def _abort_block(self) -> None:
        """After an error the proxy answers itself inside BEGIN ... fail the upstream block, as PostgreSQL would."""
        up = self.up
        if up is not None and up.status == "T":
            self.busy = True
            await up.abort_transaction()
            self.busy = False

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


async def swallow_error(up: UpstreamConnection) -> None:
    """Read (and drop) the upstream's responses up to its ErrorResponse."""
    while (await up.read_message())[0] != 69:  # 'E'
        pass

