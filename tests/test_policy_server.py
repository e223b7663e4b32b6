"""The OPA server evaluator against a real OPA: undefined results, errors, timeouts, reloads."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import default_data

from privgate.connectors.policy.bundle import Bundle, load_bundle
from privgate.connectors.policy.corpus import BASE_INPUT
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.policy.server import OpaServerEvaluator
from privgate.engine.errors import PolicyError, PolicyTimeout
from privgate.engine.ports import PolicyEvaluator


def _bundle(tmp_path: Path, text: str, name: str = "p.rego") -> Bundle:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_bundle(tmp_path)


def _private(url: str, bundle: Bundle) -> OpaServerEvaluator:
    """An evaluator with its own policy-id prefix, so it cannot disturb the default bundle's."""
    return OpaServerEvaluator(url, bundle, policy_id_prefix=f"test-{uuid.uuid4().hex[:8]}/")


@pytest.mark.service
def test_decides_like_the_embedded_backend(opa_url: str) -> None:
    ev = OpaServerEvaluator(opa_url)
    assert isinstance(ev, PolicyEvaluator)
    assert ev.backend == "opa" and ev.revision == load_bundle().revision
    ev.load(default_data())
    ours = EmbeddedEvaluator()
    ours.load(default_data())
    assert ev.evaluate("privgate/query/decision", BASE_INPUT) == ours.evaluate("privgate/query/decision", BASE_INPUT)
    ev.close()


@pytest.mark.service
def test_undefined_is_none(opa_url: str, tmp_path: Path) -> None:
    ev = _private(opa_url, _bundle(tmp_path, "package tundef\n\nallow if input.ok == true\n"))
    assert ev.evaluate("tundef/allow", {"ok": True}) is True
    assert ev.evaluate("tundef/allow", {"ok": False}) is None
    assert ev.evaluate("tundef/missing", {}) is None
    assert ev.evaluate("no_such_package/allow", {}) is None


@pytest.mark.service
def test_conflicting_values_are_an_evaluation_error_on_both_backends(opa_url: str, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "package tconf\n\nx := 1 if input.a\n\nx := 2 if input.b\n")
    doc = {"a": True, "b": True}
    with pytest.raises(PolicyError) as exc:
        _private(opa_url, bundle).evaluate("tconf/x", doc)
    assert exc.value.code == "policy_eval_error"
    assert "HTTP 500" in exc.value.message and "conflict" in exc.value.message
    with pytest.raises(PolicyError) as emb:
        EmbeddedEvaluator(bundle).evaluate("tconf/x", doc)
    assert emb.value.code == "policy_eval_error"


@pytest.mark.service
def test_a_bad_policy_upload_names_the_file(opa_url: str, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"rejected policy file broken\.rego") as exc:
        _private(opa_url, _bundle(tmp_path, "package tbad\n\nx if {\n", name="broken.rego"))
    assert exc.value.code == "policy_bundle_invalid"


@pytest.mark.service
def test_reuploading_replaces_moved_rules(opa_url: str, tmp_path: Path) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}/"
    (tmp_path / "a.rego").write_text("package tmove\n\nx := 1\n", encoding="utf-8")
    OpaServerEvaluator(opa_url, load_bundle(tmp_path), policy_id_prefix=prefix)
    (tmp_path / "a.rego").unlink()
    (tmp_path / "b.rego").write_text("package tmove\n\nx := 2\n", encoding="utf-8")
    ev = OpaServerEvaluator(opa_url, load_bundle(tmp_path), policy_id_prefix=prefix)
    assert ev.evaluate("tmove/x", {}) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_says_what_to_check() -> None:
    port = _closed_port()
    with pytest.raises(PolicyError) as exc:
        OpaServerEvaluator(f"http://127.0.0.1:{port}", retries=0)
    assert exc.value.code == "policy_unavailable"
    assert f"is OPA running at http://127.0.0.1:{port}?" in exc.value.message
    ev = OpaServerEvaluator(f"http://127.0.0.1:{port}", upload=False, retries=0)
    with pytest.raises(PolicyError, match="is OPA running") as exc:
        ev.evaluate("privgate/query/decision", BASE_INPUT)
    assert exc.value.code == "policy_unavailable"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    server.close()


def test_a_server_that_does_not_answer_times_out(silent_server: str) -> None:
    ev = OpaServerEvaluator(silent_server, upload=False, timeout=0.2, retries=0)
    with pytest.raises(PolicyTimeout) as exc:
        ev.evaluate("privgate/query/decision", BASE_INPUT)
    assert exc.value.code == "policy_timeout" and "within 0.2 s" in exc.value.message


def test_a_bad_url_is_a_config_error() -> None:
    with pytest.raises(PolicyError, match="must look like") as exc:
        OpaServerEvaluator("127.0.0.1:8181", upload=False)
    assert exc.value.code == "policy_config_invalid"
