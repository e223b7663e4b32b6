"""Prometheus metrics without a dependency: counters and latency sums rendered in the text format.

Labels carry outcomes and reason codes only — never SQL, parameters or result values.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from decimal import Decimal


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.latency_count: defaultdict[str, int] = defaultdict(int)
        self.epsilon = Decimal(0)
        self.connections = 0
        self.connections_total = 0
        self.protocol_errors = 0

    def decision(self, outcome: str, reasons: str) -> None:
        with self._lock:
            self.decisions[(outcome, reasons)] += 1

    def observe(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.latency_sum[stage] += seconds
            self.latency_count[stage] += 1

    def charged(self, epsilon: Decimal) -> None:
        with self._lock:
            self.epsilon += epsilon

    def render(self) -> str:
        with self._lock:
            lines = ["# TYPE privgate_decisions_total counter"]
            lines += [f'privgate_decisions_total{{outcome="{o}",reason="{r}"}} {n}'
                      for (o, r), n in sorted(self.decisions.items())]
            lines += ["# TYPE privgate_stage_seconds summary"]
            for stage in sorted(self.latency_sum):
                lines += [f'privgate_stage_seconds_sum{{stage="{stage}"}} {self.latency_sum[stage]:.6f}',
                          f'privgate_stage_seconds_count{{stage="{stage}"}} {self.latency_count[stage]}']
            lines += ["# TYPE privgate_epsilon_charged_total counter", f"privgate_epsilon_charged_total {self.epsilon}",
                      "# TYPE privgate_connections gauge", f"privgate_connections {self.connections}",
                      "# TYPE privgate_connections_total counter",
                      f"privgate_connections_total {self.connections_total}",
                      "# TYPE privgate_protocol_errors_total counter",
                      f"privgate_protocol_errors_total {self.protocol_errors}"]
        return "\n".join(lines) + "\n"
