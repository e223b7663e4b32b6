"""Grids: the authorized view a governed round sees, and an in-process grid for one machine.

``AuthorizedGrid`` is what makes governance happen *before* sampling: the inner strategy calls
``get_node_ids`` on it and sees only the nodes of authorized domains, so node sampling and DP
accounting are over the authorized set. Pushing to any other node raises, and every message carries
the round's signed token for the client mod.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping
from uuid import uuid4

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from privgate.engine.errors import PolicyError

from .tokens import TOKEN_KEY


class AuthorizedGrid(Grid):
    def __init__(self, grid: Grid, allowed: Iterable[int], token: Mapping[str, str | int]) -> None:
        self._grid = grid
        self._allowed = frozenset(allowed)
        self._token = dict(token)

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return [n for n in self._grid.get_node_ids() if n in self._allowed]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        out = []
        for msg in messages:
            if msg.metadata.dst_node_id not in self._allowed:
                raise PolicyError(f"refusing to send a message to node {msg.metadata.dst_node_id}: its domain is "
                                  "not authorized for this round", code="training_node_not_authorized")
            msg.content[TOKEN_KEY] = ConfigRecord(dict(self._token))
            out.append(msg)
        return self._grid.push_messages(out)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        ids = list(self.push_messages(messages))
        return self._grid.pull_messages(ids)


class LocalGrid(Grid):
    """Runs each node's ClientApp in this process, synchronously: SuperNodes without the network.

    Node ids are assigned at ``add_node``; the caller registers them in a ``NodeDirectory`` with the
    domain each app was started for (its authenticated identity on one machine).
    """

    SERVER_NODE_ID = 0  # Flower's id of the SuperLink side

    def __init__(self, run_id: int = 1) -> None:
        self._run = Run.create_empty(run_id)
        # Flower stamps messages with the process's task identity (set by SuperExec in deployment)
        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, self.SERVER_NODE_ID, 1
        self._nodes: dict[int, tuple[ClientApp, Context]] = {}
        self._replies: dict[str, Message] = {}

    def add_node(self, app: ClientApp, node_config: Mapping[str, str | int | float | bool]) -> int:
        node_id = 1000 + len(self._nodes)
        self._nodes[node_id] = (app, Context(run_id=self._run.run_id, node_id=node_id,
                                             node_config=dict(node_config), state=RecordDict(), run_config={}))
        return node_id

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg_id = str(uuid4())
            msg.metadata.__dict__["_message_id"] = msg_id
            msg.metadata.__dict__["_created_at"] = time.time()
            app, context = self._nodes[msg.metadata.dst_node_id]
            TaskIdentity.node_id = msg.metadata.dst_node_id  # the node's side, for its reply
            try:
                # a copy, as the wire would deliver it: nodes never share objects with the server or each other
                self._replies[msg_id] = app(copy.deepcopy(msg), context)
            finally:
                TaskIdentity.node_id = self.SERVER_NODE_ID
            ids.append(msg_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(list(self.push_messages(messages)))
