"""The embedded (regorus) evaluator: undefined vs error, thread affinity, reloads, time limits."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

import pytest
from _support import default_data

from privgate.connectors.policy import embedded
from privgate.connectors.policy.bundle import Bundle, load_bundle
from privgate.connectors.policy.corpus import BASE_INPUT
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.engine.errors import PolicyError, PolicyTimeout
from privgate.engine.ports import PolicyEvaluator

DECISION = "privgate/query/decision"


def _bundle(tmp_path: Path, text: str) -> Bundle:
    (tmp_path / "p.rego").write_text(text, encoding="utf-8")
    return load_bundle(tmp_path)


def test_it_is_a_policy_evaluator_and_decides() -> None:
    ev = EmbeddedEvaluator()
    assert isinstance(ev, PolicyEvaluator)
    assert ev.backend == "embedded" and ev.revision == load_bundle().revision
    ev.load(default_data())
    assert ev.evaluate(DECISION, BASE_INPUT) == {"allow": True, "deny": [], "obligations": []}


def test_undefined_is_none_not_false(tmp_path: Path) -> None:
    ev = EmbeddedEvaluator(_bundle(tmp_path, "package t\n\nallow if input.ok == true\n"))
    assert ev.evaluate("t/allow", {"ok": True}) is True
    assert ev.evaluate("t/allow", {"ok": False}) is None
    assert ev.evaluate("t/missing", {}) is None
    assert ev.evaluate("nope/allow", {}) is None


def test_evaluation_errors_become_policy_errors(tmp_path: Path) -> None:
    ev = EmbeddedEvaluator(_bundle(tmp_path, 'package t\n\nx := 1 / input.n\ny := concat(",", input.s)\n'))
    with pytest.raises(PolicyError) as exc:
        ev.evaluate("t/y", {"s": 5})
    assert exc.value.code == "policy_eval_error"
    assert "data.t.y" in exc.value.message and "Stack backtrace" not in exc.value.message


def test_a_bundle_that_does_not_compile_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policy file p\.rego .* does not compile") as exc:
        EmbeddedEvaluator(_bundle(tmp_path, "package t\n\nx if {\n"))
    assert exc.value.code == "policy_bundle_invalid"


def test_load_reaches_every_thread(tmp_path: Path) -> None:
    ev = EmbeddedEvaluator(_bundle(tmp_path, "package t\n\nlimit := data.cfg.limit\n"))
    ev.load({"cfg": {"limit": 1}})
    seen: dict[str, list[object]] = {}
    evaluated, loaded = threading.Barrier(4), threading.Event()

    def worker(name: str) -> None:
        try:
            first = ev.evaluate("t/limit", {})  # builds this thread's own engine
            evaluated.wait(5)
            loaded.wait(5)
            seen[name] = [first, ev.evaluate("t/limit", {})]
        except BaseException as exc:  # a regorus thread-affinity panic would land here
            seen[name] = [exc]

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    evaluated.wait(5)
    ev.load({"cfg": {"limit": 2}})
    loaded.set()
    for t in threads:
        t.join(10)
    assert seen == {f"w{i}": [1, 2] for i in range(3)}


def test_an_evaluator_dropped_while_other_threads_hold_engines_drops_nothing_off_thread(tmp_path: Path) -> None:
    """pyo3 refuses to drop a regorus object off its thread (an unraisable RuntimeError, seen in CI when the
    cyclic GC freed an evaluator on another thread); the evaluator must leave other threads' engines alone."""
    box = [EmbeddedEvaluator(_bundle(tmp_path, "package t\n\nlimit := 1\n"))]
    other = EmbeddedEvaluator(_bundle(tmp_path, "package t\n\nlimit := 2\n"))
    built, release = threading.Event(), threading.Event()
    held: list[int] = []

    def worker() -> None:
        box[0].evaluate("t/limit", {})  # this thread's own engine
        built.set()
        release.wait(10)
        other.evaluate("t/limit", {})  # the next use drops the dead evaluator's engine, here, on its thread
        held.append(len(embedded._STORE.engines))

    t = threading.Thread(target=worker)
    t.start()
    assert built.wait(10)
    caught: list[BaseException | None] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: caught.append(u.exc_value)
    try:
        box.clear()  # the last reference: the evaluator dies here, on the main thread
        gc.collect()
    finally:
        sys.unraisablehook = hook
        release.set()
        t.join(10)
    assert caught == []
    assert held == [1]  # only the live evaluator's engine is left in the worker's store


def test_data_that_is_not_json_is_rejected() -> None:
    ev = EmbeddedEvaluator()
    with pytest.raises(PolicyError) as exc:
        ev.load({"privgate": {"x": object()}})
    assert exc.value.code == "policy_data_invalid"


def test_slow_evaluations_time_out_after_the_fact(tmp_path: Path) -> None:
    policy = "package t\n\nn := count([x | some x in numbers.range(1, 200000)])\n"
    ev = EmbeddedEvaluator(_bundle(tmp_path, policy), timeout=1e-6)
    with pytest.raises(PolicyTimeout) as exc:
        ev.evaluate("t/n", {})
    assert exc.value.code == "policy_timeout" and "limit" in exc.value.message
    assert EmbeddedEvaluator(_bundle(tmp_path, policy), timeout=60).evaluate("t/n", {}) == 200000
