"""One governed round's fit stage through Flower's own SecAgg+ (``SecAggPlusWorkflow``).

Why this shape: in flwr 1.42 SecAgg+ exists only as a legacy workflow (a ``LegacyContext`` holding a
legacy ``flwr.server.strategy`` Strategy and a client manager). A governed round that must use it runs
exactly its fit stage through the workflow, over the round's ``AuthorizedGrid`` — so only the
authorized nodes take part and every protocol message (setup, share keys, masked vectors, unmask)
carries the round token that ``governed_mod`` checks. The server only ever sees the masked sum, so it
cannot clip individual updates: DP uses Flower's legacy client-side fixed clipping (noise added to
the unmasked aggregate on the server, clipping in each node's ``fixedclipping_mod``). Server-side
clipping with SecAgg+ is refused (the policy denies it; this module fails closed as well).

All or nothing: ``reconstruction_threshold=1.0`` makes the workflow halt if any sampled node drops
out, so an aggregate exists only when every authorized, sampled node contributed — the round's DP
accounting assumed them all. No aggregate → the caller releases the round's charge.
"""

from __future__ import annotations

from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.server_config import ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp import Grid

from privgate.engine.errors import PolicyError

# SecAgg+ weights each update by its num_examples / max_weight, quantized: a weight above it overflows
# the modular sum. Large enough for the example's clinics (~16k training rows each) with room to spare.
SECAGG_MAX_WEIGHT = 1_000_000.0


def secagg_fit(grid: Grid, rnd: int, arrays: ArrayRecord, *, clients: int, dp: dict[str, Any] | None,
               timeout: float | None) -> ArrayRecord | None:
    """Run round ``rnd``'s fit stage with SecAgg+ over ``grid``; the new global arrays, or None if it halted."""
    strategy: Strategy = FedAvg(fraction_fit=1e-9, fraction_evaluate=0.0, min_fit_clients=clients,
                                min_evaluate_clients=0, min_available_clients=clients)
    if dp is not None:
        if dp["clipping"] != "client":
            raise PolicyError("secure aggregation hides individual updates from the server, so they cannot be "
                              "clipped there: use dp.clipping: client with secure_aggregation",
                              code="training_secagg_server_clipping")
        strategy = DifferentialPrivacyClientSideFixedClipping(strategy, float(dp["noise_multiplier"]),
                                                              float(dp["clipping_norm"]), clients)
    manager = SimpleClientManager()
    for node_id in grid.get_node_ids():
        manager.register(GridClientProxy(node_id, grid, grid.run.run_id))
    context = LegacyContext(Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(),
                                    run_config={}),
                            config=ServerConfig(num_rounds=1), strategy=strategy, client_manager=manager)
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({WorkflowKey.CURRENT_ROUND: rnd})
    context.state.array_records[MAIN_PARAMS_RECORD] = arrays
    SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=1.0, max_weight=SECAGG_MAX_WEIGHT,
                       timeout=timeout)(grid, context)
    out = context.state.array_records[MAIN_PARAMS_RECORD]
    return None if out is arrays else out
