"""In-process Rego evaluation with regorus (the ``embedded`` policy backend).

regorus engines are thread-affine: a ``regorus.Engine`` may only be touched — even cloned, even
dropped — by the thread that created it. So each thread builds its own engine from the bundle text
and the data JSON. ``load()`` bumps a generation counter; every thread sees the new generation on its
next evaluation and rebuilds, so new data reaches all threads.

Where the engines live matters as much: not in the evaluator, but in a module-level per-thread store
(``_STORE``), keyed by evaluator. An evaluator can die on any thread (the cyclic GC frees it on
whichever thread happens to allocate, e.g. a Flower governance worker), and anything it owned would
be dropped there, off its thread (pyo3 then leaks it and reports an unraisable ``RuntimeError``).
Engines in the store are dropped only by their own thread: when it exits (its thread-local dict is
freed by that thread), when it rebuilds for new data, or when it next uses the store and finds the
entries of evaluators that have died since.

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

import ctypes
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
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


_STORE = threading.local()  # per thread: {evaluator token: _Thread}
# The store itself must never be torn down off-thread either (interpreter shutdown would free daemon
# threads' dicts on the main thread): one reference that is never released keeps it for the process.
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_STORE))
_LIVE: set[int] = set()  # tokens of evaluators not yet finalized (ints: safe to drop on any thread)
_TOKENS = itertools.count(1)


def _engines() -> dict[int, _Thread]:
    """This thread's engines, minus those of evaluators that died (dropped here, on their own thread)."""
    engines: dict[int, _Thread] | None = getattr(_STORE, "engines", None)
    if engines is None:
        engines = _STORE.engines = {}
    for token in [t for t in engines if t not in _LIVE]:
        del engines[token]
    return engines


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
        self._token = next(_TOKENS)
        _LIVE.add(self._token)
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

    # No method below raises while a frame of it holds a regorus object. A caller that keeps the
    # exception (tests do, loggers may) keeps its traceback's frames; in a reference cycle those are
    # freed by the cyclic GC on whichever thread runs it, and pyo3 refuses to drop a regorus object off
    # its own thread (it leaks it with a warning). So regorus failures travel as strings, and the
    # PolicyError is raised from a frame that holds no engine.

    def evaluate(self, path: str, input_doc: Mapping[str, Any]) -> Any | None:
        """Value of the rule at ``path`` (``privgate/query/decision``), or None when undefined."""
        rule = "data." + path.strip("/").replace("/", ".")
        start = time.perf_counter()
        value, problem = self._run(rule, input_doc)
        if problem is not None:
            if problem.code == "policy_undefined_path":
                return None  # no such package or rule: undefined, as OPA reports it
            raise PolicyError(problem.message, code=problem.code)
        elapsed = time.perf_counter() - start
        if self.timeout is not None and elapsed > self.timeout:
            raise PolicyTimeout(f"embedded Rego evaluation of {rule} took {elapsed * 1e3:.1f} ms, over "
                                f"the {self.timeout * 1e3:.0f} ms limit; simplify the policy or raise "
                                "policy.timeout")
        return value

    def _run(self, rule: str, input_doc: Mapping[str, Any]) -> tuple[Any, _Problem | None]:
        local, problem = self._thread()
        if local is None:
            return None, problem
        try:
            if rule in local.entries:
                local.rvm.set_input_json(json.dumps(input_doc))
                out = local.rvm.execute_entry_point(rule)
                return (None if out == _RVM_UNDEFINED else json.loads(out)), None
            local.engine.set_input(input_doc if isinstance(input_doc, dict) else dict(input_doc))
            return local.engine.eval_rule(rule), None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # regorus panics surface as BaseException subclasses
            message = _clean(exc)
        if message == _UNDEFINED_PATH:
            return None, _Problem("policy_undefined_path", message)
        return None, _Problem("policy_eval_error",
                              f"embedded Rego evaluation of {rule} failed ({self.revision}): {message}")

    def _engine(self) -> Any:
        local, problem = self._thread()
        if local is None:
            assert problem is not None
            raise PolicyError(problem.message, code=problem.code)
        return local.engine

    def _thread(self) -> tuple[_Thread | None, _Problem | None]:
        state = self._state
        engines = _engines()
        local = engines.get(self._token)
        if local is not None and local.generation == state.generation:
            return local, None
        engines.pop(self._token, None)  # the old engines are dropped here, on their own thread
        local = None
        engine, problem = self._build(state)
        if engine is None:
            return None, problem
        rvm, entries, problem = self._compile(state) if self.compiled else (None, frozenset[str](), None)
        if problem is not None:
            return None, problem
        engines[self._token] = made = _Thread(state.generation, engine, rvm, entries)
        return made, None

    def __del__(self) -> None:
        # Only the token goes; each thread drops this evaluator's engines itself (see ``_engines``).
        _LIVE.discard(getattr(self, "_token", 0))

    def _compile(self, state: _State) -> tuple[Any, frozenset[str], _Problem | None]:
        """An RVM program for every package's ``decision`` rule that exists in the bundle."""
        modules = list(self.bundle.policies)
        packages = sorted({m for _, text in modules for m in _PACKAGE.findall(text)})
        entries = []
        for package in packages:
            entry = f"data.{package}.decision"
            message = _attempt(partial(regorus.Program.compile_from_modules, state.data_json, modules, [entry]))
            if message == _UNDEFINED_PATH:
                continue  # this package has no decision rule
            if message is not None:
                return None, frozenset(), _Problem(
                    "policy_bundle_invalid",
                    f"policy bundle {self.bundle.source} does not compile for the RVM ({entry}): {message}")
            entries.append(entry)
        if not entries:
            return None, frozenset(), None
        rvm = regorus.Rvm()

        def load() -> None:
            rvm.load_program(regorus.Program.compile_from_modules(state.data_json, modules, entries))
            rvm.set_data_json(state.data_json)

        message = _attempt(load)
        if message is not None:
            return None, frozenset(), _Problem("policy_bundle_invalid", f"policy bundle {self.bundle.source} "
                                               f"does not compile for the RVM: {message}")
        return rvm, frozenset(entries), None

    def _build(self, state: _State) -> tuple[Any, _Problem | None]:
        engine = regorus.Engine()
        for relpath, text in self.bundle.policies:
            message = _attempt(partial(engine.add_policy, relpath, text))
            if message is not None:
                return None, _Problem("policy_bundle_invalid",
                                      f"policy file {relpath} in {self.bundle.source} does not compile: {message}")
        message = _attempt(lambda: engine.add_data_json(state.data_json))
        if message is not None:
            return None, _Problem("policy_data_invalid", f"policy data was rejected by the embedded engine: {message}")
        return engine, None


@dataclass(frozen=True)
class _Problem:
    code: str
    message: str


def _attempt(action: Callable[[], object]) -> str | None:
    """Run a regorus call; its error as a cleaned message (None on success), never an exception."""
    try:
        action()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # regorus panics surface as BaseException subclasses
        return _clean(exc)
    return None


def _clean(exc: BaseException) -> str:
    """regorus appends a Rust stack backtrace to its messages; keep the part a person can act on."""
    return str(exc).split("Stack backtrace:")[0].strip()
