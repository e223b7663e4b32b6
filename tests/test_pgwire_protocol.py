"""The proxy's pieces without a database: codec, statement classification, SCRAM, the ledger, and the
session state machine's startup phase fed with bytes through an in-memory ClientIO."""

from __future__ import annotations

import asyncio
import struct

import pytest
import scramp

from privgate.connectors.pgwire import protocol as pq
from privgate.connectors.pgwire.auth import AuthFailed, ScramExchange, ScramSecret, check_cleartext, hash_password
from privgate.connectors.pgwire.classify import classify
from privgate.connectors.pgwire.govern import count_params, substitute, to_positional
from privgate.engine.errors import ConfigError

# ---- codec --------------------------------------------------------------------------------------


def test_framer_cuts_split_and_coalesced_messages():
    f = pq.Framer()
    data = pq.encode_query("SELECT 1") + pq.SYNC
    f.feed(data[:3])
    assert f.next_message() is None
    f.feed(data[3:])
    assert f.next_message() == (ord("Q"), b"SELECT 1\x00")
    assert f.next_message() == (ord("S"), b"")
    assert f.next_message() is None


def test_framer_refuses_oversized_and_negative_lengths_before_buffering():
    f = pq.Framer(max_message=1024)
    f.feed(b"Q" + struct.pack("!i", 1 << 30))
    with pytest.raises(pq.ProtocolError) as err:
        f.next_message()
    assert err.value.sqlstate == "54000"
    g = pq.Framer()
    g.feed(b"Q" + struct.pack("!i", 2))
    with pytest.raises(pq.ProtocolError):
        g.next_message()


def test_startup_packet_round_trip_and_special_requests():
    f = pq.Framer()
    f.feed(pq.startup_packet({"user": "ana", "database": "w", "options": "-c privgate.purpose=x"}))
    s = f.next_startup()
    assert s is not None and s.code == pq.PROTOCOL_V3 and s.params["user"] == "ana"
    f.feed(struct.pack("!ii", 8, pq.SSL_REQUEST))
    ssl_req = f.next_startup()
    assert ssl_req is not None and ssl_req.code == pq.SSL_REQUEST
    f.feed(struct.pack("!iiii", 16, pq.CANCEL_REQUEST, 7, 9))
    cancel = f.next_startup()
    assert cancel is not None and cancel.cancel_key == (7, 9)
    f.feed(struct.pack("!ii", 8, 12345))
    with pytest.raises(pq.ProtocolError):
        f.next_startup()


def test_bind_decode_encode_round_trip_and_truncation():
    b = pq.BindMsg("p", "s", (0, 1), (b"abc", None), (1,))
    encoded = pq.encode_bind(b)
    assert pq.decode_bind(encoded[5:]) == b
    with pytest.raises(pq.ProtocolError):
        pq.decode_bind(encoded[5:-3])
    with pytest.raises(pq.ProtocolError):
        pq.decode_parse(b"name-without-terminator")


def test_error_fields_round_trip():
    fields = pq.parse_fields(pq.error_response("42501", "no", "reason codes: x", "try y")[5:])
    assert fields["C"] == "42501" and fields["D"] == "reason codes: x" and fields["H"] == "try y"


# ---- classification (fail closed) ---------------------------------------------------------------

CATALOG = frozenset({"pg_class", "pg_type", "pg_namespace"})


@pytest.mark.parametrize(("sql", "kind"), [
    ("BEGIN", "session"), ("commit;", "session"), ("SHOW server_version", "session"),
    ("SET TIME ZONE 'UTC'", "session"), ("SET extra_float_digits = 3", "session"), ("RESET ALL", "session"),
    ("SET search_path TO sales", "session"), ("RESET search_path", "session"), ("SET ROLE postgres", "refused"),
    ("SET search_path TO sales, pg_catalog", "refused"), ("SET search_path = pg_temp, sales", "refused"),
    ("SET search_path = sales,", "refused"), ("SET search_path = sales public", "refused"),
    ("SET search_path FROM CURRENT", "refused"),
    ("SET SESSION AUTHORIZATION postgres", "refused"), ("PREPARE p AS SELECT * FROM sales.customers", "refused"),
    ("COPY sales.customers TO STDOUT", "refused"), ("BEGIN; SELECT * FROM sales.customers", "governed"),
    ("SELECT typname FROM pg_catalog.pg_type WHERE oid = 23", "catalog"),
    ("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace", "catalog"),
    ("SELECT table_name FROM information_schema.tables", "catalog"),
    ("SELECT version()", "catalog"), ("SELECT current_schema()", "catalog"),
    ("SELECT * FROM pg_stats", "refused"), ("SELECT rolpassword FROM pg_authid", "refused"),
    ("SELECT query_to_xml('select * from sales.customers', true, true, '') FROM pg_class", "refused"),
    ("WITH x AS (SELECT email FROM sales.customers) SELECT * FROM pg_class, x", "governed"),
    ("SELECT * FROM pg_class WHERE oid IN (SELECT customer_id FROM sales.customers)", "governed"),
    ("SELECT * FROM pg_my_own_table", "governed"),  # not a real pg_catalog relation: could be anything
    ("SELECT pg_read_file('/etc/passwd')", "governed"), ("SELECT 1", "governed"),
    ("/* /* */ SHOW x */ SELECT ssn FROM sales.customers", "refused"),
    ("/* a */ SHOW server_version /* b */", "session"), ("/* unterminated SHOW x", "governed"),
    ("SET privgate.purpose = 'support'", "purpose"), ("show privgate.purpose", "show_purpose"), ("  ;", "empty"),
])
def test_classification(sql, kind):
    assert classify(sql, CATALOG).kind == kind


@pytest.mark.parametrize(("sql", "path"), [
    ('set search_path = "sales"', ("sales",)),  # Superset's prequery
    ("SET search_path TO Sales, public", ("sales", "public")),  # unquoted names fold
    ("SET LOCAL search_path = 'Sales', \"My\"\"S\", \"$user\"", ("Sales", 'My"S', "$user")),
    ("SET search_path = pg_catalog, sales;", ("pg_catalog", "sales")),  # pg_catalog first: PostgreSQL's own order
    ("SET search_path TO DEFAULT", None), ("RESET search_path", None),
])
def test_search_path_values_are_read_as_postgresql_reads_them(sql, path):
    c = classify(sql, CATALOG)
    assert (c.kind, c.setting, c.path) == ("session", "search_path", path)



def test_purpose_value_is_unquoted():
    assert classify("SET privgate.purpose TO 'it''s'").value == "it's"


# ---- placeholders and parameters ----------------------------------------------------------------

def test_named_pads_become_positional_after_client_params():
    sql, names = to_positional("SELECT f(%(b)s, %(a)s, %(b)s) FROM t WHERE x = $1 AND y LIKE 'a%'", 2)
    assert sql == "SELECT f($2, $3, $2) FROM t WHERE x = $1 AND y LIKE 'a%'" and names == ("b", "a")
    assert count_params("SELECT '$9', $2, $1") == 2


def test_substitute_binds_values_as_literals():
    import sqlglot

    tree = substitute(sqlglot.parse_one("SELECT a FROM t WHERE b = $1 AND c = $2", read="postgres"), ("x'y", None))
    assert tree.sql("postgres") == "SELECT a FROM t WHERE b = 'x''y' AND c = NULL"


# ---- SCRAM --------------------------------------------------------------------------------------

def _login(secret: ScramSecret, password: str) -> str:
    client = scramp.ScramClient(["SCRAM-SHA-256"], "ana", password)
    x = ScramExchange(secret)
    client.set_server_first(x.first(client.get_client_first()))
    final = x.final(client.get_client_final())
    client.set_server_final(final)  # the client verifies the server too
    return final


def test_scram_accepts_the_password_and_rejects_others():
    secret = ScramSecret.parse(hash_password("s3cret"))
    assert _login(secret, "s3cret").startswith("v=")
    with pytest.raises(AuthFailed):
        _login(secret, "wrong")
    assert check_cleartext(secret, "s3cret") and not check_cleartext(secret, "nope")
    with pytest.raises(ConfigError):
        ScramSecret.parse("md5abcdef")


def test_scram_accepts_libpq_empty_username_and_refuses_channel_binding():
    secret = ScramSecret.parse(hash_password("pw"))
    x = ScramExchange(secret)
    assert x.first("n,,n=,r=abc").startswith("r=abc")
    with pytest.raises(AuthFailed):
        ScramExchange(secret).first("p=tls-server-end-point,,n=,r=abc")


# ---- the session state machine, fed bytes -------------------------------------------------------

class MemoryIO:
    def __init__(self, incoming: bytes) -> None:
        self.incoming = [incoming]
        self.out = bytearray()
        self.closed = False

    async def read(self, n: int) -> bytes:
        return self.incoming.pop(0) if self.incoming else b""

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        return None

    async def start_tls(self, context: object) -> None:
        raise AssertionError("no TLS configured")

    def close(self) -> None:
        self.closed = True


def _session_output(incoming: bytes) -> tuple[bytes, bool]:
    from privgate.connectors.pgwire.metrics import Metrics
    from privgate.connectors.pgwire.session import Session, User
    from privgate.engine.decision import Principal

    class _Gov:
        metrics = Metrics()

    user = User("ana", ScramSecret.parse(hash_password("ana")), Principal(id="ana"), "analytics")
    io = MemoryIO(incoming)
    session = Session(io, _Gov(), None, {"ana": user})  # type: ignore[arg-type]
    asyncio.run(session.run())
    return bytes(io.out), io.closed


def test_ssl_and_gssenc_refused_without_certificate_then_scram_offered():
    out, closed = _session_output(struct.pack("!ii", 8, pq.SSL_REQUEST) + struct.pack("!ii", 8, pq.GSSENC_REQUEST)
                                  + pq.startup_packet({"user": "ana", "database": "w"}))
    assert out[:2] == b"NN" and closed
    assert out[2:3] == b"R" and struct.unpack("!i", out[7:11])[0] == 10 and b"SCRAM-SHA-256" in out


def test_unknown_user_and_garbage_startup_are_fatal_errors():
    out, closed = _session_output(pq.startup_packet({"user": "mallory", "database": "w"}))
    assert out[:1] == b"E" and b"28P01" in out and closed
    out, closed = _session_output(b"\x00\x00\x00\x09garbage!!")
    assert out[:1] == b"E" and b"FATAL" in out and closed
    out, closed = _session_output(b"\xff" * 64)
    assert out[:1] == b"E" and closed


def test_wrong_scram_message_type_is_a_protocol_error():
    out, closed = _session_output(pq.startup_packet({"user": "ana", "database": "w"}) + pq.encode_query("SELECT 1"))
    assert b"08P01" in out and closed
