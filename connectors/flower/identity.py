"""Which domain a Flower node speaks for: from authenticated identity, never from self-report.

In deployment each domain runs its own SuperNode with SuperNode authentication enabled on the
SuperLink: the node's key pair is registered by the operator, so the SuperLink's node id is bound to
a key only that domain holds. The operator records, per domain, the node ids (or key fingerprints
resolved to node ids at registration) in this directory — a node's own ``node_config`` saying
``domain = x`` is never trusted. On one machine, ``LocalGrid`` registers each ClientApp under the
domain it was started for, which plays the same role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from privgate.engine.errors import ConfigError


class NodeDirectory:
    def __init__(self, nodes: Mapping[int, str]) -> None:
        self._domain = dict(nodes)

    def domain_of(self, node_id: int) -> str | None:
        return self._domain.get(node_id)

    def nodes_of(self, domains: Iterable[str]) -> list[int]:
        wanted = set(domains)
        return sorted(n for n, d in self._domain.items() if d in wanted)

    def require(self, domains: Iterable[str]) -> None:
        """Every domain of the job must have a registered node; fail before round 1 otherwise."""
        missing = sorted(set(domains) - set(self._domain.values()))
        if missing:
            raise ConfigError(f"no authenticated node is registered for domain(s) {', '.join(missing)}",
                              code="config_fl_node_missing")
