-- v2: budget grants (kept for audit) and an index so sweeping overdue reservations stays cheap.
CREATE TABLE ledger_grants (
    id          TEXT PRIMARY KEY,
    scope       TEXT NOT NULL REFERENCES ledger_accounts (scope),
    bucket      BIGINT NOT NULL,
    loss        NUMERIC NOT NULL,
    delta       NUMERIC NOT NULL,
    reason      TEXT NOT NULL,
    granted_by  TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX ledger_grants_scope ON ledger_grants (scope, created_us);
CREATE INDEX ledger_reservations_pending ON ledger_reservations (expires_us) WHERE status = 'pending';
