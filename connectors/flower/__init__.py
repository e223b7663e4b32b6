"""Flower (flwr 1.42, Message API) adapters: govern every round of a federated training job.

* ``GovernedStrategy`` wraps any Flower ``Strategy``: before each round it asks the engine
  (``engine.training.TrainingGovernor``), shows the inner strategy only the authorized nodes, wraps
  it in Flower's DP fixed-clipping strategy with the authorized parameters, and stops cleanly with
  the decision's reason when a round is denied.
* ``governed_mod`` is the data owner's client mod: it refuses messages without a valid round token.
* ``NodeDirectory`` maps authenticated node identities to domains; ``LocalGrid`` runs ClientApps
  in-process (one machine, no Ray). See docs/federated.md.
"""

from .client_mod import governed_mod
from .grid import AuthorizedGrid, LocalGrid
from .identity import NodeDirectory
from .strategy import GovernedStrategy, RoundReport
from .tokens import RoundToken, TokenError, TokenSigner

__all__ = [
    "AuthorizedGrid",
    "GovernedStrategy",
    "LocalGrid",
    "NodeDirectory",
    "RoundReport",
    "RoundToken",
    "TokenError",
    "TokenSigner",
    "governed_mod",
]
