"""Policy evaluators (embedded regorus, OPA server), the bundle loader and the conformance corpus runner."""

from __future__ import annotations

from .bundle import Bundle, load_bundle
from .corpus import CaseResult, run_corpus
from .embedded import EmbeddedEvaluator
from .server import OpaServerEvaluator

__all__ = ["Bundle", "CaseResult", "EmbeddedEvaluator", "OpaServerEvaluator", "load_bundle", "run_corpus"]
