"""In-process Rego evaluation with regorus (the ``embedded`` policy backend).

regorus engines are thread-affine: a ``regorus.Engine`` may only be touched — even cloned — by the
thread that created it. So each thread builds its own engine from the bundle text and the data JSON,
and keeps it in a ``threading.local``. ``load()`` bumps a generation counter; every thread sees the
new generation on its next evaluation and rebuilds, so new data reaches all threads.

The decision rules (``data.<package>.decision`` of every package in the bundle) are also compiled
into a regorus RVM program — bytecode for its register VM, about 3x faster than the tree-walking
interpreter on this bundle — and evaluated there; any other rule path goes to the interpreter. The
conformance corpus runs through both paths (``tests/test_policy_embedded.py``). The RVM reports an
undefined result (and evaluation conflicts, which OPA reports as errors) as the JSON string
``"<undefined>"``; either way the engine denies.

regorus cannot interrupt an evaluation. ``timeout`` is therefore checked after the fact: a result
that took longer is discarded and ``PolicyTimeout`` raised, so a pathological policy still fails
closed, the way the OPA backend does when the server is slow.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regorus

from privgate.engine.errors import PolicyError, PolicyTimeout

from .bundle import Bundle, load_bundle, merge_data

_UNDEFINED_PATH = "not a valid rule path"
_RVM_UNDEFINED = '"<undefined>"'
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


@dataclass
class _Thread:
    """One thread's engines: the interpreter for any rule, the RVM for the compiled decision rules."""

    generation: int
    engine: Any
    rvm: Any
    entries: frozenset[str]


@dataclass(frozen=True)
class _State:
    generation: int
    data_json: str


class EmbeddedEvaluator:
    """``PolicyEvaluator`` running the bundle in-process; safe to share between threads."""

    backend = "embedded"

    def __init__(self, bundle: Bundle | None = None, *, timeout: float | None = None,
                 compiled: bool = True) -> None:
        self.bundle = bundle if bundle is not None else load_bundle()
        self.revision = self.bundle.revision
        self.timeout = timeout
        self.compiled = compiled
        self._lock = threading.Lock()
        self._state = _State(0, json.dumps(self.bundle.data))
        self._local = threading.local()
        self._engine()  # compile now, in this thread: a broken bundle fails at construction

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the ``data`` document (merged over the bundle's own data) for every thread."""
        try:
            data_json = json.dumps(merge_data(self.bundle.data, data))
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"policy data is not JSON-serialisable: {exc}",
                              code="policy_data_invalid") from exc
        with self._lock:
            self._state = _State(self._state.generation + 1, data_json)
        self._engine()  # validate the data in this thread too

    def evaluate(self, path: str, input_doc: Mapping[str, Any]) -> Any | None:
        """Value of the rule at ``path`` (``privgate/query/decision``), or None when undefined."""
        local = self._thread()
        rule = "data." + path.strip("/").replace("/", ".")
        start = time.perf_counter()
        try:
            if rule in local.entries:
                local.rvm.set_input_json(json.dumps(input_doc))
                out = local.rvm.execute_entry_point(rule)
                value = None if out == _RVM_UNDEFINED else json.loads(out)
            else:
                local.engine.set_input(input_doc if isinstance(input_doc, dict) else dict(input_doc))
                value = local.engine.eval_rule(rule)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # regorus panics surface as BaseException subclasses
            message = _clean(exc)
            if message == _UNDEFINED_PATH:
                return None  # no such package or rule: undefined, as OPA reports it
            raise PolicyError(f"embedded Rego evaluation of {rule} failed ({self.revision}): {message}",
                              code="policy_eval_error") from exc
        elapsed = time.perf_counter() - start
        if self.timeout is not None and elapsed > self.timeout:
            raise PolicyTimeout(f"embedded Rego evaluation of {rule} took {elapsed * 1e3:.1f} ms, over "
                                f"the {self.timeout * 1e3:.0f} ms limit; simplify the policy or raise "
                                "policy.timeout")
        return value

    def _engine(self) -> Any:
        return self._thread().engine

    def _thread(self) -> _Thread:
        state = self._state
        local: _Thread | None = getattr(self._local, "t", None)
        if local is None or local.generation != state.generation:
            engine = self._build(state)
            rvm, entries = self._compile(state) if self.compiled else (None, frozenset[str]())
            local = self._local.t = _Thread(state.generation, engine, rvm, entries)
        return local

    def _compile(self, state: _State) -> tuple[Any, frozenset[str]]:
        """An RVM program for every package's ``decision`` rule that exists in the bundle."""
        modules = list(self.bundle.policies)
        packages = sorted({m for _, text in modules for m in _PACKAGE.findall(text)})
        entries = []
        for package in packages:
            entry = f"data.{package}.decision"
            try:
                regorus.Program.compile_from_modules(state.data_json, modules, [entry])
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                if _clean(exc) == _UNDEFINED_PATH:
                    continue  # this package has no decision rule
                raise PolicyError(f"policy bundle {self.bundle.source} does not compile for the RVM "
                                  f"({entry}): {_clean(exc)}", code="policy_bundle_invalid") from exc
            entries.append(entry)
        if not entries:
            return None, frozenset()
        program = regorus.Program.compile_from_modules(state.data_json, modules, entries)
        rvm = regorus.Rvm()
        rvm.load_program(program)
        rvm.set_data_json(state.data_json)
        return rvm, frozenset(entries)

    def _build(self, state: _State) -> Any:
        engine = regorus.Engine()
        for relpath, text in self.bundle.policies:
            try:
                engine.add_policy(relpath, text)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                raise PolicyError(f"policy file {relpath} in {self.bundle.source} does not compile: "
                                  f"{_clean(exc)}", code="policy_bundle_invalid") from exc
        try:
            engine.add_data_json(state.data_json)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise PolicyError(f"policy data was rejected by the embedded engine: {_clean(exc)}",
                              code="policy_data_invalid") from exc
        return engine


def _clean(exc: BaseException) -> str:
    """regorus appends a Rust stack backtrace to its messages; keep the part a person can act on."""
    return str(exc).split("Stack backtrace:")[0].strip()
