-- Schema version 1: the event log and top-up payments.

-- The one ordered event log. AUTOINCREMENT so that an id is never reused,
-- even after the newest rows are pruned: clients resume by id.
CREATE TABLE events (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    type  TEXT NOT NULL,
    ts    TEXT NOT NULL,
    data  TEXT NOT NULL                  -- minified JSON
);
CREATE INDEX events_topic_id ON events (topic, id);

-- Small counters the log needs: pruned_upto is the highest id ever pruned,
-- so a resume from below it is known to have lost history.
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (k, v) VALUES ('pruned_upto', 0);

-- order_code doubles as PayOS's orderCode: a positive integer, never reused.
CREATE TABLE topups (
    order_code   INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_ref       TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    description  TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'PAID', 'FAILED', 'CANCELLED')),
    stream_token TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    paid_at      TEXT,
    reference    TEXT
);
CREATE INDEX topups_user ON topups (user_id);

CREATE TABLE wallets (
    user_id TEXT PRIMARY KEY,
    balance INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- One row per credit; UNIQUE(tx_ref) makes a second credit of the same
-- payment impossible even if application logic were wrong.
CREATE TABLE wallet_credits (
    tx_ref     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
