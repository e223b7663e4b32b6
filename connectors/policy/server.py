"""Rego evaluation on a real OPA server through opa-python-client (the ``opa`` policy backend).

The evaluator uploads the bundle's policies when it is built (policy ids ``privgate/<path>``, the
prefix configurable, replacing whatever an earlier privgate left under that prefix) and the
``data`` document on ``load()``, one top-level key at a time so other tenants' data on a shared
server is left alone. Each evaluation is
one POST to ``/v1/data/<path>``; an undefined rule comes back as ``{}`` and is reported as None.

Every failure of the library or the network becomes a ``PolicyError`` with a stable code and a
message that says what to check: ``policy_unavailable`` (cannot connect), ``policy_timeout``,
``policy_eval_error`` (OPA answered with an error), ``policy_bundle_invalid`` (upload rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import DeleteDataError

from privgate.engine.errors import PolicyError, PolicyTimeout

from .bundle import Bundle, load_bundle, merge_data

POLICY_ID_PREFIX = "privgate/"
DEFAULT_URL = "http://127.0.0.1:8181"

T = TypeVar("T")


class OpaServerEvaluator:
    """``PolicyEvaluator`` backed by an OPA server; thread-safe (one HTTP session behind a lock-free API)."""

    backend = "opa"

    def __init__(self, url: str = DEFAULT_URL, bundle: Bundle | None = None, *, timeout: float = 2.0,
                 token: str | None = None, retries: int = 1, upload: bool = True,
                 policy_id_prefix: str = POLICY_ID_PREFIX) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyError(f"OPA url {url!r} must look like http://127.0.0.1:8181",
                              code="policy_config_invalid")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.policy_id_prefix = policy_id_prefix
        self.bundle = bundle if bundle is not None else load_bundle()
        self.revision = self.bundle.revision
        self._client = OpaClient(host=parts.hostname,
                                 port=parts.port or (443 if parts.scheme == "https" else 8181),
                                 ssl=parts.scheme == "https", token=token, retries=retries, timeout=timeout)
        # top-level data keys this evaluator manages; `privgate` always, so load({}) clears it
        self._data_keys: set[str] = {"privgate"}
        if upload:
            self.upload_policies()

    def upload_policies(self) -> None:
        """Make the server's policies under our prefix exactly this bundle's.

        OPA compiles every change together with the modules already there, so a single step can be
        rejected while the set is half-updated (a file that uses a rule from a file not yet
        uploaded, a rule moved between files, a stale file still used by another). Uploads and
        deletions of stale files are therefore retried while any of them makes progress; only an
        error that no ordering fixes is raised. A half-updated set never allows more: the decision
        rule is then undefined or the old one, and undefined is a deny.
        """
        existing = self._call("listing policies", self._client.get_policies_list)
        wanted = {self.policy_id_prefix + relpath: (relpath, text) for relpath, text in self.bundle.policies}
        stale = sorted(pid for pid in existing
                       if isinstance(pid, str) and pid.startswith(self.policy_id_prefix) and pid not in wanted)
        steps: list[tuple[str, str, Callable[[], object]]] = [
            (f"uploading policy {relpath}", relpath,
             partial(self._client.update_policy_from_string, text, pid, rego_compat=False))
            for pid, (relpath, text) in wanted.items()
        ] + [(f"deleting stale policy {pid}", pid, partial(self._client.delete_policy, pid)) for pid in stale]
        while steps:
            rejected: list[tuple[tuple[str, str, Callable[[], object]], PolicyError]] = []
            for step in steps:
                action, name, fn = step
                try:
                    self._call(action, fn, bundle_file=name)
                except PolicyError as exc:
                    if exc.code != "policy_bundle_invalid":
                        raise
                    rejected.append((step, exc))
            if len(rejected) == len(steps):
                raise rejected[0][1]
            steps = [step for step, _ in rejected]

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the ``data`` document (merged over the bundle's own data) key by key."""
        doc = merge_data(self.bundle.data, data)
        for key in sorted(self._data_keys - set(doc)):
            self._call(f"removing data/{key}", partial(self._delete_data, key))
        for key, value in sorted(doc.items()):
            if not isinstance(value, dict):
                raise PolicyError(f"policy data key {key!r} must be an object to upload to OPA",
                                  code="policy_data_invalid")
            self._call(f"uploading data/{key}", partial(self._client.update_or_create_data, value, key))
        self._data_keys |= set(doc)

    def evaluate(self, path: str, input_doc: Mapping[str, Any]) -> Any | None:
        """Value of the rule at ``path`` (``privgate/query/decision``), or None when undefined."""
        package, _, rule = path.strip("/").rpartition("/")
        body = self._call(f"evaluating {path}",
                          lambda: self._client.query_rule(dict(input_doc), package, rule))
        if not isinstance(body, dict):
            raise PolicyError(f"OPA at {self.url} answered {path} with {type(body).__name__}, not an object",
                              code="policy_eval_error")
        return body.get("result") if "result" in body else None

    def _delete_data(self, key: str) -> None:
        try:
            self._client.delete_data(key)
        except DeleteDataError as exc:
            if exc.expression != "resource_not_found":
                raise

    def close(self) -> None:
        self._client.close_connection()

    def _call(self, action: str, fn: Callable[[], T], *, bundle_file: str | None = None) -> T:
        try:
            return fn()
        except requests.exceptions.Timeout as exc:
            raise PolicyTimeout(f"OPA at {self.url} did not answer within {self.timeout:g} s while {action}; "
                                "check the server's load or raise the policy timeout") from exc
        except requests.exceptions.ConnectionError as exc:
            raise PolicyError(f"cannot reach OPA while {action}: {_first_line(exc)}; is OPA running at "
                              f"{self.url}? (start one with `opa run --server --addr "
                              f"{self.url.split('://', 1)[1]}`)", code="policy_unavailable") from exc
        except requests.exceptions.HTTPError as exc:
            raise PolicyError(f"OPA at {self.url} failed while {action}: {_http_detail(exc)}",
                              code="policy_eval_error") from exc
        except requests.exceptions.RequestException as exc:
            raise PolicyError(f"request to OPA at {self.url} failed while {action}: {exc}",
                              code="policy_unavailable") from exc
        except ValueError as exc:  # a body that is not JSON (e.g. a proxy's HTML error page)
            raise PolicyError(f"OPA at {self.url} sent a response that is not JSON while {action}: {exc}",
                              code="policy_eval_error") from exc
        except Exception as exc:  # opa_client's own errors (RegoParseError, PolicyNotFoundError, ...)
            detail = str(exc) if str(exc) else repr(exc)
            message = getattr(exc, "message", None)
            if isinstance(message, str) and message not in detail:
                detail = f"{detail}: {message}"
            if bundle_file is not None:
                raise PolicyError(f"OPA at {self.url} rejected policy file {bundle_file} of "
                                  f"{self.bundle.source}: {detail}", code="policy_bundle_invalid") from exc
            raise PolicyError(f"OPA at {self.url} failed while {action}: {detail}",
                              code="policy_eval_error") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _http_detail(exc: requests.exceptions.HTTPError) -> str:
    response = exc.response
    if response is None:
        return str(exc)
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict):
        detail = f"HTTP {response.status_code} {body.get('code', '')}: {body.get('message', '')}"
        errors = body.get("errors")
        if isinstance(errors, list):  # OPA puts the actual causes (e.g. eval_conflict_error) here
            causes = [f"{e.get('code', '')}: {e.get('message', '')}" for e in errors[:3] if isinstance(e, dict)]
            detail += " (" + "; ".join(causes) + ")" if causes else ""
        return detail
    return f"HTTP {response.status_code}"
