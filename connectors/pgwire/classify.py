"""Which statements the proxy may pass without the policy pipeline, and which it must stop.

Drivers and BI tools send session commands (SET, SHOW, BEGIN ...) and catalog queries (pg_catalog,
information_schema) on connect. Those never read governed rows, so they pass — but only when that is
*provable* from the statement: the rule is fail closed.

- ``session``: transaction control, SHOW, RESET and SET of an allow-listed setting. ``SET search_path``
  passes with its parsed schema list (``Classified.path``): the session hands it to the analyzer, which
  resolves unqualified names with it, and allowed queries run qualified. A path that searches
  ``pg_catalog`` after another schema (or names ``pg_temp``) is refused: an unqualified ``pg_class`` or
  ``lower()`` could then be an ordinary schema's object. SET ROLE / SESSION AUTHORIZATION are refused.
  SQL-level PREPARE/EXECUTE, LISTEN/NOTIFY, COPY ... are refused (they bypass decisions).
- ``catalog``: every table is in pg_catalog / information_schema (minus the few catalog views that hold
  row data or secrets: pg_stats, pg_statistic, pg_authid, pg_stat_activity ...) and every function is a
  known catalog/introspection helper (so ``query_to_xml('select * from sales.customers')`` cannot
  smuggle a governed read through an innocent-looking catalog query).
- ``governed``: everything else goes through the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

Kind = Literal["session", "catalog", "governed", "refused", "purpose", "show_purpose", "empty"]

_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_WORD = re.compile(r"[A-Za-z_]+")

TRANSACTION = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"})
# Settings a client may change: formatting, timeouts, identification. Never search_path, role or
# session_authorization (they change what names mean or whose privileges apply upstream).
SETTABLE = frozenset({
    "application_name", "client_encoding", "datestyle", "timezone", "time zone", "intervalstyle",
    "extra_float_digits", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
    "bytea_output", "client_min_messages", "standard_conforming_strings", "default_transaction_isolation",
    "transaction", "session characteristics", "default_transaction_read_only", "jit", "lc_monetary",
    "lc_numeric", "lc_time", "xmloption", "work_mem", "geqo", "enable_seqscan", "transaction_isolation",
    "names", "seed",
})
SENSITIVE_CATALOG = frozenset({
    "pg_statistic", "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data", "pg_largeobject",
    "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_stat_activity", "pg_stat_statements",
    "pg_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings", "pg_prepared_xacts", "pg_replication_slots",
    "pg_stat_replication", "pg_subscription", "pg_stat_statements_info",
})
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
CATALOG_FUNCTIONS = frozenset({
    "current_version", "current_timestamp", "current_date", "current_time", "localtimestamp", "sessionuser",
    "version", "current_database", "current_schema", "current_schemas", "current_user", "session_user", "user",
    "current_catalog", "current_role", "current_setting", "format_type", "obj_description", "col_description",
    "shobj_description", "array_lower", "array_upper", "array_length", "array_to_string", "string_to_array",
    "generate_series", "generate_subscripts", "unnest", "array_agg", "string_agg", "row_number", "regclass",
    "regtype", "quote_ident", "quote_literal", "translate", "pg_backend_pid", "inet_server_addr",
    "inet_server_port", "txid_current", "pg_is_in_recovery", "pg_postmaster_start_time", "to_regclass",
    "to_regtype", "to_regproc", "to_regnamespace", "pg_encoding_to_char", "pg_char_to_encoding", "pg_jit_available",
    "pg_total_relation_size", "pg_relation_size", "pg_table_size", "pg_indexes_size", "pg_size_pretty",
    "pg_my_temp_schema", "pg_is_other_temp_schema", "pg_typeof", "pg_has_role", "pg_collation_for",
    "pg_listening_channels", "pg_trigger_depth", "pg_index_column_has_property", "pg_index_has_property",
    "pg_indexam_has_property", "pg_options_to_table", "pg_tablespace_location", "pg_sequence_parameters",
    "pg_conversion_is_visible", "pg_identify_object", "pg_describe_object", "pg_relation_is_updatable",
    "pg_column_is_updatable", "array_position", "array_positions", "information_schema", "_pg_expandarray",
    "_pg_truetypid", "_pg_truetypmod", "_pg_char_max_length", "_pg_index_position", "_pg_numeric_precision",
    "_pg_numeric_scale", "_pg_datetime_precision", "_pg_interval_type", "_pg_char_octet_length",
    "_pg_numeric_precision_radix", "textlen", "oidvectortypes", "row", "exists", "regexp_replace", "regexp_match",
    "split_part", "left", "right", "btrim", "ltrim", "rtrim", "now", "to_char", "pg_get_keywords",
    "pg_get_partkeydef", "pg_get_serial_sequence", "pg_settings_get_flags", "pg_get_function_identity_arguments",
    "pg_get_function_result", "pg_get_function_arguments", "pg_current_xact_id", "array_cat", "array_append",
    "array_remove", "cardinality", "int2vectorout", "pg_relation_is_publishable", "pg_partition_root",
    "pg_partition_tree", "pg_partition_ancestors", "concat", "concat_ws", "json_build_object", "jsonb_build_object",
    "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "to_json", "to_jsonb", "row_to_json",
    "json_build_array", "jsonb_build_array", "max", "min", "count", "bool_or", "bool_and", "coalesce", "nullif",
    "lower", "upper", "length", "substring", "position", "replace", "pg_am_name",
})
CATALOG_PREFIXES = ("pg_get_", "has_", "pg_type_is", "information_schema.")
_VISIBLE = re.compile(r"^pg_\w+_is_visible$")


@dataclass(frozen=True)
class Classified:
    kind: Kind
    code: str = ""
    message: str = ""
    hint: str = ""
    value: str = ""
    #: ``search_path`` for SET/RESET search_path (``path`` None: back to the default), else "".
    setting: str = ""
    path: tuple[str, ...] | None = None


def _strip(sql: str) -> str:
    return sql[_COMMENTS.match(sql).end():]  # type: ignore[union-attr]


_SET_PURPOSE = re.compile(
    r"\A(?:SET\s+(?:SESSION\s+|LOCAL\s+)?privgate\.purpose\s*(?:=|TO)\s*('(?:[^']|'')*'|[\w.-]+)\s*;?\s*)\Z",
    re.I | re.S)
_SHOW_PURPOSE = re.compile(r"\ASHOW\s+privgate\.purpose\s*;?\s*\Z", re.I)
_SET_NAME = re.compile(r"\A(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?(\"?[\w.]+\"?(?:\s+zone|\s+characteristics)?)",
                       re.I)


class Classifier:
    """Classifies statement texts, with a bounded cache (drivers repeat the same session statements).

    ``catalog_relations`` are the relation names that really live in the upstream's pg_catalog: an
    unqualified ``pg_something`` only counts as a catalog table when it is one of them (otherwise it
    could resolve to an ordinary table on the search path).
    """

    def __init__(self, catalog_relations: frozenset[str] = frozenset(), size: int = 4096) -> None:
        self.catalog_relations = catalog_relations
        self._classify = lru_cache(maxsize=size)(self._uncached)

    def __call__(self, sql: str) -> Classified:
        return self._classify(sql)

    def _uncached(self, sql: str) -> Classified:
        return classify(sql, self.catalog_relations)


_DECLARE = re.compile(r"\A(DECLARE\s+\S+\s+(?:[A-Z]+\s+)*?CURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+)(.+)\Z",
                      re.I | re.S)


def declare_cursor(sql: str) -> tuple[str, str] | None:
    """``DECLARE name ... CURSOR ... FOR <query>`` → (prefix, query): the query is governed like any other."""
    m = _DECLARE.match(_strip(sql))
    return (m.group(1), m.group(2)) if m else None


def _nested_comment(sql: str) -> bool:
    """True when a ``/*`` opens inside a block comment. PostgreSQL nests block comments, regexes (and sqlglot)
    do not, so ``/* /* */ SHOW x */ SELECT ...`` would hide a query behind a harmless-looking prefix."""
    depth = i = 0
    while (j := sql.find("/*", i)) >= 0 or depth:
        k = sql.find("*/", i)
        if j >= 0 and (k < 0 or j < k):
            if depth:
                return True
            depth, i = 1, j + 2
        elif k >= 0:
            depth, i = 0, k + 2
        else:
            return False  # unterminated: PostgreSQL rejects it
    return False


def classify(sql: str, catalog_relations: frozenset[str] = frozenset()) -> Classified:
    """Classify one Query / Parse text."""
    if "/*" in sql and _nested_comment(sql):
        return Classified("refused", "nested_comment", "nested block comments are not accepted through privgate",
                          "PostgreSQL nests /* */ comments; remove the inner comment")
    body = _strip(sql)
    if not body.strip().strip(";").strip():
        return Classified("empty")
    m = _WORD.match(body)
    word = m.group(0).upper() if m else ""
    if (pm := _SET_PURPOSE.match(body)) is not None:
        value = pm.group(1)
        value = value[1:-1].replace("''", "'") if value.startswith("'") else value
        return Classified("purpose", value=value)
    if _SHOW_PURPOSE.match(body):
        return Classified("show_purpose")
    single = ";" not in body.rstrip().rstrip(";")
    if word in TRANSACTION and single:
        return Classified("session", value=word)
    if word == "SHOW" and single:
        return Classified("session", value=word)
    if word in ("SET", "RESET") and single:
        nm = _SET_NAME.match(body)
        name = (nm.group(1) if nm else "").strip('"').lower()
        name = re.sub(r"\s+", " ", name)
        if (word == "RESET" and name == "all") or name in SETTABLE:
            return Classified("session", value=word)
        if name == "search_path":
            return _search_path(word, body)
        return Classified("refused", "session_setting_not_allowed",
                          f"changing the session setting {name or body[:40]!r} through privgate is not allowed",
                          "it can change which tables a name refers to or whose privileges apply")
    if word in ("DISCARD", "DEALLOCATE", "CLOSE", "FETCH", "MOVE", "UNLISTEN") and single:
        return Classified("session", value=word)
    if word in ("PREPARE", "EXECUTE", "LISTEN", "NOTIFY", "COPY", "DO", "CALL", "LOAD", "VACUUM", "ANALYZE",
                "CHECKPOINT", "LOCK", "SECURITY", "GRANT", "REVOKE", "IMPORT", "REFRESH", "CLUSTER", "REINDEX"):
        return Classified("refused", "statement_not_supported",
                          f"{word} statements are not supported through privgate",
                          "use the protocol-level extended query (driver prepared statements) instead of SQL PREPARE"
                          if word in ("PREPARE", "EXECUTE") else "")
    if word in ("SELECT", "WITH", "VALUES", "TABLE"):
        return _catalog_or_governed(body, catalog_relations)
    return Classified("governed")


_SET_PATH = re.compile(r"\A(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?\"?search_path\"?\s*(?:(?:=|TO)\s*(.*?))?\s*;?\s*\Z",
                       re.I | re.S)
_PATH_ITEM = re.compile(r'\s*(?:"((?:[^"]|"")+)"|\'((?:[^\']|\'\')*)\'|([A-Za-z_][\w$]*))\s*(,|\Z)', re.S)


def parse_search_path(text: str) -> tuple[str, ...] | None:
    """A search_path value as PostgreSQL reads it — ``a, "B", 'c'`` → ``('a', 'B', 'c')`` — or None when
    it is not a plain list (the caller refuses it). Unquoted names fold to lower case; ``"$user"`` stays."""
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _PATH_ITEM.match(text, pos)
        if m is None:
            return None
        quoted, literal, bare = m.group(1), m.group(2), m.group(3)
        out.append(quoted.replace('""', '"') if quoted is not None
                   else literal.replace("''", "'") if literal is not None else bare.lower())
        pos = m.end()
        if not m.group(4):
            break
        if pos >= len(text):
            return None  # a trailing comma
    return tuple(out) if out and pos >= len(text) else None


def _search_path(word: str, body: str) -> Classified:
    m = _SET_PATH.match(body)
    value = (m.group(1) or "") if m else None
    if m is not None and (word == "RESET" or (value or "").strip().upper() == "DEFAULT"):
        return Classified("session", value=word, setting="search_path")
    path = parse_search_path(value) if value else None
    if path is None:
        return Classified("refused", "search_path_not_understood",
                          "privgate only accepts search_path as a plain list of schema names",
                          "SET search_path = schema1, schema2")
    if "pg_catalog" in path[1:] or any(s.startswith("pg_temp") for s in path):
        return Classified("refused", "search_path_not_allowed",
                          "a search_path that searches pg_catalog after another schema, or names pg_temp, "
                          "is not allowed through privgate",
                          "an unqualified catalog name or function could then resolve to an ordinary schema's "
                          "object; leave pg_catalog out (PostgreSQL searches it first)")
    return Classified("session", value=word, setting="search_path", path=path)


def _catalog_or_governed(sql: str, catalog_relations: frozenset[str]) -> Classified:
    try:
        trees = sqlglot.parse(sql, read="postgres")
    except SqlglotError:
        return Classified("governed")  # the engine reports the parse error
    if len(trees) != 1 or trees[0] is None:
        return Classified("governed")
    tree = trees[0]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = [t for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes]
    if not tables:
        names = {str(fn.this).lower() if isinstance(fn, exp.Anonymous) else fn.sql_name().lower()
                 for fn in tree.find_all(exp.Func)}
        if names and names <= CATALOG_FUNCTIONS:
            return Classified("catalog")  # SELECT version(), current_schema() ...: no data can be read
        if not any(isinstance(fn, exp.Anonymous) for fn in tree.find_all(exp.Func)):
            return Classified("governed")  # no tables, only built-in functions: the engine decides
    for t in tables:
        schema = t.db.lower()
        name = t.name.lower()
        if name in SENSITIVE_CATALOG and schema in ("", "pg_catalog"):
            return Classified("refused", "catalog_sensitive_relation",
                              f"{schema or 'pg_catalog'}.{name} holds row data or secrets and is not exposed")
        if schema not in CATALOG_SCHEMAS and not (not schema and name in catalog_relations):
            return Classified("governed")
    for fn in tree.find_all(exp.Func):
        if isinstance(fn, exp.Anonymous):
            name = str(fn.this).lower()
            if not (name in CATALOG_FUNCTIONS or name.startswith(CATALOG_PREFIXES) or _VISIBLE.match(name)):
                if not tables:
                    return Classified("governed")  # e.g. SELECT pg_read_file(...): the engine denies it
                return Classified("refused", "catalog_function_not_allowed",
                                  f"function {name}() is not allowed in catalog queries through privgate")
    return Classified("catalog")
