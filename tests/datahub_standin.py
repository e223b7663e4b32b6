"""A small DataHub GMS stand-in on 127.0.0.1, for end-to-end tests of privgate's DataHub sync.

No DataHub server can run on the test machine, so this implements *only* the GMS endpoints that
DataHub's own SDK (``DataHubGraph``, acryl-datahub) calls for privgate's pull and push — found by
reading the SDK source — and nothing else:

    GET  /config                               DatahubRestEmitter.fetch_server_config (test_connection)
    GET  /aspects/{urn}?aspect=A&version=0     DataHubGraph.get_aspect
    POST /aspects?action=ingestProposal        DatahubRestEmitter.emit_mcp (Rest.li mode)
    POST /api/graphql  (scrollAcrossEntities)  DataHubGraph.get_urns_by_filter

Every request body is validated with DataHub's generated classes (``MetadataChangeProposalClass``,
the aspect classes, ``TagAssociationClass``/``GlossaryTermAssociationClass`` for patch values) and
every urn is parsed with DataHub's urn classes; an invalid request gets HTTP 400 and is recorded in
``Standin.rejected`` so a test can assert there were none. Any other endpoint answers 404 and is
recorded in ``Standin.unexpected``.

PATCH proposals are applied the way GMS's patch templates do (``EditableSchemaMetadataTemplate``,
``GlobalTagsTemplate``, ``GlossaryTermsTemplate`` in datahub-project/datahub entity-registry): arrays
become maps keyed by ``fieldPath`` / ``tag`` / ``urn``, missing parents are created, the JSON patch is
applied, maps become arrays again, and the result must validate as the aspect class. This mirrors
GMS's documented behaviour; it is not GMS, so a team should also run the sync against their DataHub
(see docs/datahub.md).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from datahub.emitter.serialization_helper import post_json_transform, pre_json_transform
from datahub.metadata.schema_classes import (
    ASPECT_NAME_MAP,
    ChangeTypeClass,
    GlossaryTermAssociationClass,
    MetadataChangeProposalClass,
    StatusClass,
    TagAssociationClass,
)
from datahub.metadata.urns import Urn

SYSTEM_ACTOR = "urn:li:corpuser:__datahub_system"
PATCHABLE = {"editableSchemaMetadata", "globalTags", "glossaryTerms"}


class BadRequest(Exception):
    """The request would not pass GMS's validation."""


@dataclass
class Standin:
    """In-memory GMS state plus a log of what the client did."""

    token: str | None = None
    forbidden_tokens: set[str] = field(default_factory=set)
    write_limit: int | None = None  # after this many accepted proposals, answer 403 to writes
    aspects: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> aspect name -> aspect object
    proposals: list[MetadataChangeProposalClass] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, urn: str, aspect: Any) -> None:
        """Seed state as ingestion (or a person in the UI) would have written it."""
        Urn.from_string(urn)
        assert aspect.validate(), f"invalid {type(aspect).__name__}"
        self.aspects.setdefault(urn, {})[aspect.get_aspect_name()] = aspect

    def get(self, urn: str, aspect_name: str) -> Any:
        return self.aspects.get(urn, {}).get(aspect_name)

    def snapshot(self) -> str:
        """All state as canonical JSON, to assert that something did not change."""
        flat = {u: {n: a.to_obj() for n, a in sorted(asp.items())} for u, asp in sorted(self.aspects.items())}
        return json.dumps(flat, sort_keys=True)

    def writes(self) -> int:
        return sum(1 for m, p in self.requests if m == "POST" and "ingestProposal" in p)


# ---------------------------------------------------------------- patch application (GMS templates)

def _parse_path(path: str) -> list[str]:
    if not path.startswith("/"):
        raise BadRequest(f"patch path must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _to_map(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {str(item[key]): item for item in items}


def _to_list(mapping: dict[str, Any], key: str) -> list[dict[str, Any]]:
    out = []
    for k, v in mapping.items():
        if not isinstance(v, dict):
            raise BadRequest(f"patched {key!r} entry {k!r} is not an object")
        v.setdefault(key, k)
        out.append(v)
    return out


def _transform_tags_terms(node: dict[str, Any]) -> None:
    if isinstance(node.get("globalTags"), dict):
        node["globalTags"]["tags"] = _to_map(node["globalTags"].get("tags", []), "tag")
    if isinstance(node.get("glossaryTerms"), dict):
        node["glossaryTerms"].setdefault("auditStamp", {"time": int(time.time() * 1000), "actor": SYSTEM_ACTOR})
        node["glossaryTerms"]["terms"] = _to_map(node["glossaryTerms"].get("terms", []), "urn")


def _rebase_tags_terms(node: dict[str, Any]) -> None:
    if isinstance(node.get("globalTags"), dict):
        node["globalTags"]["tags"] = _to_list(node["globalTags"].get("tags", {}), "tag")
    if isinstance(node.get("glossaryTerms"), dict):
        node["glossaryTerms"].setdefault("auditStamp", {"time": int(time.time() * 1000), "actor": SYSTEM_ACTOR})
        node["glossaryTerms"]["terms"] = _to_list(node["glossaryTerms"].get("terms", {}), "urn")


def _default(aspect_name: str) -> dict[str, Any]:
    stamp = {"time": int(time.time() * 1000), "actor": SYSTEM_ACTOR}
    return {"editableSchemaMetadata": {"created": stamp, "lastModified": stamp, "editableSchemaFieldInfo": []},
            "globalTags": {"tags": []},
            "glossaryTerms": {"terms": [], "auditStamp": stamp}}[aspect_name]


def _check_value(parts: list[str], value: Any) -> None:
    """Patch values at a tag/term key must be a valid association for that very urn."""
    if len(parts) >= 2 and parts[-2] == "tags":
        assoc: Any = TagAssociationClass.from_obj(post_json_transform(value))
        Urn.from_string(assoc.tag)
        if assoc.tag != parts[-1]:
            raise BadRequest(f"tag {assoc.tag} stored under key {parts[-1]}")
    elif len(parts) >= 2 and parts[-2] == "terms":
        assoc = GlossaryTermAssociationClass.from_obj(post_json_transform(value))
        Urn.from_string(assoc.urn)
        if assoc.urn != parts[-1]:
            raise BadRequest(f"term {assoc.urn} stored under key {parts[-1]}")
    else:
        return
    if not assoc.validate():
        raise BadRequest(f"invalid association {value!r}")
    if assoc.attribution is not None:
        Urn.from_string(assoc.attribution.actor)
        if assoc.attribution.source:
            Urn.from_string(assoc.attribution.source)


def apply_patch(aspect_name: str, current: Any, ops: Any) -> Any:
    """``current`` (an aspect object or None) with the JSON patch ``ops`` applied, as GMS would."""
    if aspect_name not in PATCHABLE:
        raise BadRequest(f"the stand-in does not patch {aspect_name}")
    if not isinstance(ops, list):
        raise BadRequest("expected a JSON patch array (GenericJsonPatch envelopes are not used by privgate)")
    doc = copy.deepcopy(current.to_obj()) if current is not None else _default(aspect_name)
    if aspect_name == "editableSchemaMetadata":
        fields = _to_map(doc.get("editableSchemaFieldInfo", []), "fieldPath")
        for info in fields.values():
            _transform_tags_terms(info)
        doc["editableSchemaFieldInfo"] = fields
    elif aspect_name == "globalTags":
        doc["tags"] = _to_map(doc.get("tags", []), "tag")
    else:
        doc["terms"] = _to_map(doc.get("terms", []), "urn")
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace"):
            raise BadRequest(f"unsupported patch operation {op!r}")
        parts = _parse_path(op["path"])
        parent = doc
        for key in parts[:-1]:  # GMS's populateTopLevelKeys: create missing parents
            nxt = parent.get(key)
            if nxt is None:
                nxt = parent[key] = {}
            if not isinstance(nxt, dict):
                raise BadRequest(f"patch path {op['path']} walks into a non-object")
            parent = nxt
        if op["op"] == "remove":
            parent.pop(parts[-1], None)
        else:
            _check_value(parts, op.get("value"))
            parent[parts[-1]] = copy.deepcopy(op["value"])
    if aspect_name == "editableSchemaMetadata":
        infos = _to_list(doc["editableSchemaFieldInfo"], "fieldPath")
        for info in infos:
            _rebase_tags_terms(info)
        doc["editableSchemaFieldInfo"] = infos
    elif aspect_name == "globalTags":
        doc["tags"] = _to_list(doc["tags"], "tag")
    else:
        doc["terms"] = _to_list(doc["terms"], "urn")
    cls = ASPECT_NAME_MAP[aspect_name]
    try:
        result = cls.from_obj(post_json_transform(doc))
    except Exception as exc:
        raise BadRequest(f"patched {aspect_name} is not valid: {exc}") from exc
    if not result.validate():
        raise BadRequest(f"patched {aspect_name} fails DataHub's schema")
    return result


# ---------------------------------------------------------------- HTTP

def _filter_matches(state: Standin, urn: str, criteria: list[dict[str, Any]]) -> bool:
    from datahub.metadata.urns import DatasetUrn

    parsed = DatasetUrn.from_string(urn)
    for c in criteria:
        name, values, negated = c.get("field"), c.get("values") or [], bool(c.get("negated"))
        if c.get("condition", "EQUAL") != "EQUAL":
            raise BadRequest(f"filter condition {c.get('condition')} not supported by the stand-in")
        if name in ("platform.keyword", "platform"):
            hit = str(parsed.get_data_platform_urn()) in values
        elif name in ("origin", "env"):
            hit = parsed.env in values
        elif name == "removed":
            status = state.get(urn, "status")
            hit = ("true" if isinstance(status, StatusClass) and status.removed else "false") in values
        elif name == "customProperties":
            props = state.get(urn, "datasetProperties")
            have = {f"{k}={v}" for k, v in (props.customProperties.items() if props else [])}
            hit = bool(have & set(values))
        else:
            raise BadRequest(f"filter field {name!r} not supported by the stand-in")
        if hit == negated:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    state: Standin  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.state.token is None:
            return True
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token in self.state.forbidden_tokens:
            self._send(403, {"status": 403, "message": "Forbidden: actor lacks EDIT_ENTITY privileges"})
            return False
        if token != self.state.token:
            self._send(401, {"status": 401, "message": "Unauthorized to perform this action."})
            return False
        return True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        with self.state.lock:
            self.state.requests.append((method, self.path))
        if not self._authorized():
            return
        try:
            if method == "GET" and split.path == "/config":
                self._send(200, {"noCode": "true", "versions": {"acryldata/datahub": {"version": "v1.2.0",
                                                                                      "commit": "standin"}}})
            elif method == "GET" and split.path.startswith("/aspects/"):
                self._get_aspect(unquote(split.path[len("/aspects/"):]), parse_qs(split.query))
            elif method == "POST" and split.path == "/aspects" and parse_qs(split.query).get("action") == [
                    "ingestProposal"]:
                self._ingest(self._body())
            elif method == "POST" and split.path == "/api/graphql":
                self._graphql(self._body())
            else:
                with self.state.lock:
                    self.state.unexpected.append(f"{method} {self.path}")
                self._send(404, {"status": 404, "message": f"stand-in has no {method} {split.path}"})
        except BadRequest as exc:
            with self.state.lock:
                self.state.rejected.append(f"{method} {self.path}: {exc}")
            self._send(400, {"status": 400, "message": str(exc)})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _get_aspect(self, urn: str, query: dict[str, list[str]]) -> None:
        try:
            Urn.from_string(urn)
        except Exception as exc:
            raise BadRequest(f"invalid urn {urn!r}: {exc}") from exc
        name = (query.get("aspect") or [""])[0]
        if name not in ASPECT_NAME_MAP:
            raise BadRequest(f"unknown aspect {name!r}")
        if (query.get("version") or ["0"])[0] != "0":
            raise BadRequest("the stand-in serves only the latest version (0)")
        with self.state.lock:
            aspect = self.state.get(urn, name)
        if aspect is None:
            self._send(404, {"status": 404, "message": f"{urn} has no {name}"})
            return
        fullname = aspect.RECORD_SCHEMA.fullname.replace(".pegasus2avro", "")
        self._send(200, {"aspect": {fullname: pre_json_transform(aspect.to_obj())}, "version": 0})

    def _ingest(self, body: Any) -> None:
        if self.state.write_limit is not None and len(self.state.proposals) >= self.state.write_limit:
            self._send(403, {"status": 403, "message": "Forbidden: actor lacks EDIT_ENTITY_TAGS privileges"})
            return
        if not isinstance(body, dict) or set(body) - {"proposal", "async"} or "proposal" not in body:
            raise BadRequest("ingestProposal body must be {proposal, async}")
        try:
            mcp = MetadataChangeProposalClass.from_obj(post_json_transform(body["proposal"]))
        except Exception as exc:
            raise BadRequest(f"not a MetadataChangeProposal: {exc}") from exc
        if not mcp.validate():
            raise BadRequest("proposal fails DataHub's MetadataChangeProposal schema")
        try:
            urn = Urn.from_string(mcp.entityUrn or "")
        except Exception as exc:
            raise BadRequest(f"invalid entityUrn {mcp.entityUrn!r}: {exc}") from exc
        if urn.entity_type != mcp.entityType:
            raise BadRequest(f"entityType {mcp.entityType} does not match {mcp.entityUrn}")
        if mcp.aspectName not in ASPECT_NAME_MAP or mcp.aspect is None:
            raise BadRequest(f"unknown aspect {mcp.aspectName!r}")
        payload = json.loads(mcp.aspect.value)
        with self.state.lock:
            current = self.state.get(str(urn), mcp.aspectName)
            if mcp.changeType == ChangeTypeClass.PATCH:
                if mcp.aspect.contentType != "application/json-patch+json":
                    raise BadRequest(f"PATCH needs contentType application/json-patch+json, not "
                                     f"{mcp.aspect.contentType}")
                new = apply_patch(mcp.aspectName, current, payload)
            elif mcp.changeType == ChangeTypeClass.UPSERT:
                new = ASPECT_NAME_MAP[mcp.aspectName].from_obj(post_json_transform(payload))
                if not new.validate():
                    raise BadRequest(f"{mcp.aspectName} fails DataHub's schema")
            else:
                raise BadRequest(f"changeType {mcp.changeType} not supported by the stand-in")
            self.state.aspects.setdefault(str(urn), {})[mcp.aspectName] = new
            self.state.proposals.append(mcp)
        self._send(200, {"value": str(urn)})

    def _graphql(self, body: Any) -> None:
        if not isinstance(body, dict) or "scrollAcrossEntities" not in str(body.get("query", "")):
            raise BadRequest("the stand-in answers only scrollAcrossEntities")
        variables = body.get("variables") or {}
        if variables.get("types") != ["DATASET"]:
            raise BadRequest(f"expected types [DATASET], got {variables.get('types')}")
        if variables.get("query", "*") != "*":
            raise BadRequest("free-text search is not supported by the stand-in")
        or_filters = variables.get("orFilters") or [{"and": []}]
        with self.state.lock:
            urns = sorted(u for u in self.state.aspects if u.startswith("urn:li:dataset:"))
            hits = [u for u in urns if any(_filter_matches(self.state, u, f.get("and", [])) for f in or_filters)]
        self._send(200, {"data": {"scrollAcrossEntities": {
            "nextScrollId": None,
            "searchResults": [{"entity": {"urn": u}, "extraProperties": []} for u in hits]}}})


@contextmanager
def running(state: Standin | None = None) -> Iterator[Standin]:
    """Serve ``state`` on an ephemeral 127.0.0.1 port for the duration of the block."""
    state = state or Standin()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------- example metadata, shared by file and server tests

def example_records() -> list[Any]:
    """A small warehouse as DataHub ingestion (and one person in the UI) would have described it.

    ``shop.sales.customers`` (domain "Sales", owner ann): ingestion schema with DataHub's classifier term
    on ``phone``; a person tagged ``email`` with ``pii-email`` and a non-PII ``gold`` tag, and gave it a
    description. ``shop.sales.orders``: a plain table. ``shop.support.tickets`` (domain "Customer Support"):
    free-text ``body``.
    """
    from datahub.emitter.mce_builder import make_dataset_urn
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as Mcpw
    from datahub.metadata import schema_classes as s

    def col(name: str, native: str, terms: list[str] | None = None) -> Any:
        gt = s.GlossaryTermsClass([s.GlossaryTermAssociationClass(t) for t in terms],
                                  s.AuditStampClass(0, "urn:li:corpuser:datahub")) if terms else None
        kind = s.NumberTypeClass() if native in ("bigint", "integer", "numeric") else s.StringTypeClass()
        return s.SchemaFieldClass(fieldPath=name, type=s.SchemaFieldDataTypeClass(kind), nativeDataType=native,
                                  glossaryTerms=gt)

    def schema(name: str, fields: list[Any]) -> Any:
        return s.SchemaMetadataClass(schemaName=name, platform="urn:li:dataPlatform:postgres", version=0, hash="",
                                     platformSchema=s.OtherSchemaClass(rawSchema=""), fields=fields)

    customers = make_dataset_urn("postgres", "shop.sales.customers", "PROD")
    orders = make_dataset_urn("postgres", "shop.sales.orders", "PROD")
    tickets = make_dataset_urn("postgres", "shop.support.tickets", "PROD")
    human = s.EditableSchemaMetadataClass(editableSchemaFieldInfo=[s.EditableSchemaFieldInfoClass(
        "email", description="Customer's contact e-mail",
        globalTags=s.GlobalTagsClass([s.TagAssociationClass("urn:li:tag:pii-email"),
                                      s.TagAssociationClass("urn:li:tag:gold")]))],
        created=s.AuditStampClass(1_700_000_000_000, "urn:li:corpuser:ann"))
    owner = s.OwnershipClass([s.OwnerClass("urn:li:corpuser:ann@acme.example", s.OwnershipTypeClass.DATAOWNER)])
    return [
        Mcpw(entityUrn="urn:li:dataPlatform:postgres", aspect=s.DataPlatformInfoClass(
            name="postgres", type=s.PlatformTypeClass.RELATIONAL_DB, datasetNameDelimiter=".")),
        Mcpw(entityUrn="urn:li:domain:sales", aspect=s.DomainPropertiesClass(name="Sales")),
        Mcpw(entityUrn="urn:li:domain:support", aspect=s.DomainPropertiesClass(name="Customer Support")),
        Mcpw(entityUrn=customers, aspect=schema("sales.customers", [
            col("customer_id", "bigint"), col("email", "text"),
            col("phone", "text", ["urn:li:glossaryTerm:Phone_Number"]), col("city", "text")])),
        Mcpw(entityUrn=customers, aspect=human),
        Mcpw(entityUrn=customers, aspect=owner),
        Mcpw(entityUrn=customers, aspect=s.DomainsClass(["urn:li:domain:sales"])),
        Mcpw(entityUrn=orders, aspect=schema("sales.orders", [col("order_id", "bigint"), col("customer_id", "bigint"),
                                                              col("amount", "numeric")])),
        Mcpw(entityUrn=orders, aspect=owner),
        Mcpw(entityUrn=orders, aspect=s.DomainsClass(["urn:li:domain:sales"])),
        Mcpw(entityUrn=tickets, aspect=schema("support.tickets", [col("ticket_id", "bigint"), col("body", "text")])),
        Mcpw(entityUrn=tickets, aspect=s.DomainsClass(["urn:li:domain:support"])),
    ]


def seed(state: Standin, records: list[Any] | None = None) -> Standin:
    for record in records if records is not None else example_records():
        state.put(record.entityUrn, record.aspect)
    return state
