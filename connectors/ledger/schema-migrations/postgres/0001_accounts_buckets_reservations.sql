-- privgate ledger schema v1 (PostgreSQL). Amounts are exact NUMERIC (never float);
-- times are integer microseconds since the Unix epoch (UTC).
CREATE TABLE ledger_accounts (
    scope       TEXT PRIMARY KEY,
    measure     TEXT NOT NULL CHECK (measure IN ('pure', 'approx', 'zcdp')),
    window_spec TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);

-- Running totals per account and window bucket: the O(1) state a charge reads and writes.
CREATE TABLE ledger_buckets (
    scope           TEXT NOT NULL REFERENCES ledger_accounts (scope),
    bucket          BIGINT NOT NULL,
    granted_loss    NUMERIC NOT NULL DEFAULT 0,
    granted_delta   NUMERIC NOT NULL DEFAULT 0,
    committed_loss  NUMERIC NOT NULL DEFAULT 0,
    committed_delta NUMERIC NOT NULL DEFAULT 0,
    reserved_loss   NUMERIC NOT NULL DEFAULT 0,
    reserved_delta  NUMERIC NOT NULL DEFAULT 0,
    expired_loss    NUMERIC NOT NULL DEFAULT 0,
    expired_delta   NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, bucket)
);

CREATE TABLE ledger_reservations (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    decision_id     TEXT NOT NULL,
    principal       TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'committed', 'released', 'expired')),
    created_us      BIGINT NOT NULL,
    expires_us      BIGINT NOT NULL,
    closed_us       BIGINT,
    epsilon         NUMERIC NOT NULL,
    delta           NUMERIC NOT NULL,
    rho             NUMERIC,
    mechanisms      JSONB NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    fingerprint     TEXT NOT NULL
);
CREATE INDEX ledger_reservations_created ON ledger_reservations (created_us);

-- What each reservation took from each account, in that account's measure.
CREATE TABLE ledger_reservation_accounts (
    reservation_id TEXT NOT NULL REFERENCES ledger_reservations (id),
    scope          TEXT NOT NULL REFERENCES ledger_accounts (scope),
    measure        TEXT NOT NULL,
    window_spec    TEXT NOT NULL,
    bucket         BIGINT NOT NULL,
    loss           NUMERIC NOT NULL,
    delta          NUMERIC NOT NULL,
    PRIMARY KEY (reservation_id, scope)
);
CREATE INDEX ledger_reservation_accounts_scope ON ledger_reservation_accounts (scope, reservation_id);
