"""The policy bundle: the Rego files (and optional data files) one evaluator loads, plus its revision.

A bundle is read from the installed package (``privgate.policies``) or from a folder the user names,
the way OPA reads a bundle directory: every ``*.rego`` file except tests (``*_test.rego``) is a
policy, and a ``data.json`` / ``data.yaml`` file is data placed at its folder's path. The revision is
a content hash of exactly those files, so a decision's provenance names the policy that made it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from privgate.engine.errors import PolicyError

DEFAULT_PACKAGE = "privgate.policies"
DATA_FILES = ("data.json", "data.yaml", "data.yml")


@dataclass(frozen=True)
class Bundle:
    """Policies as ``(relative path, text)`` pairs sorted by path, data, and the content revision."""

    source: str
    policies: tuple[tuple[str, str], ...]
    data: dict[str, Any] = field(default_factory=dict)
    revision: str = ""


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Read the bundle at ``path`` (a folder), or the default bundle installed with privgate."""
    if path is None:
        root: Traversable = resources.files(DEFAULT_PACKAGE)
        source = f"package {DEFAULT_PACKAGE}"
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise PolicyError(f"policy bundle folder {folder} does not exist; point policy.bundle at a "
                              "folder of .rego files", code="policy_bundle_invalid")
        root = folder
        source = str(folder)
    policies: list[tuple[str, str]] = []
    data: dict[str, Any] = {}
    digest = hashlib.sha256()
    for rel, node in sorted(_walk(root, ()), key=lambda item: item[0]):
        name = rel[-1]
        relpath = "/".join(rel)
        if name.endswith(".rego") and not name.endswith("_test.rego"):
            text = node.read_text(encoding="utf-8")
            policies.append((relpath, text))
        elif name in DATA_FILES:
            text = node.read_text(encoding="utf-8")
            data = merge_data(data, _nest(rel[:-1], _parse_data(relpath, text, source)))
        else:
            continue
        digest.update(relpath.encode() + b"\0" + text.encode() + b"\0")
    if not policies:
        raise PolicyError(f"policy bundle {source} holds no .rego files", code="policy_bundle_invalid")
    return Bundle(source=source, policies=tuple(policies), data=data,
                  revision="sha256:" + digest.hexdigest()[:16])


def merge_data(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two data documents: objects merge key by key, anything else in ``overlay`` wins."""
    out = dict(base)
    for key, value in overlay.items():
        prev = out.get(key)
        if isinstance(prev, Mapping) and isinstance(value, Mapping):
            out[key] = merge_data(prev, value)
        else:
            out[key] = value
    return out


def _walk(node: Traversable, rel: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in node.iterdir():
        if child.name.startswith((".", "__")):
            continue
        if child.is_dir():
            yield from _walk(child, (*rel, child.name))
        else:
            yield (*rel, child.name), child


def _parse_data(relpath: str, text: str, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(text) if relpath.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy bundle {source}: data file {relpath} is not valid: {exc}",
                          code="policy_bundle_invalid") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PolicyError(f"policy bundle {source}: data file {relpath} must hold an object",
                          code="policy_bundle_invalid")
    return doc


def _nest(path: tuple[str, ...], doc: dict[str, Any]) -> dict[str, Any]:
    for key in reversed(path):
        doc = {key: doc}
    return doc
