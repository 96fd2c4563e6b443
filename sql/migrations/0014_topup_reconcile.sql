-- Schema version 14: a top-up still PENDING after PAYOS_RECONCILE_S is
-- asked about at PayOS (GET /v2/payment-requests/{orderCode}) by
-- pulse-batch, so a lost webhook still settles it. One row per top-up being
-- reconciled, taken by a lease (lease_owner until lease_until_ms, Unix ms)
-- so one sender asks at a time; next_ms: not before (the back-off after an
-- error, or the next look at one still pending). The row goes with the
-- PENDING status, whoever settled it.
CREATE TABLE topup_reconcile (
    order_code     INTEGER PRIMARY KEY REFERENCES topups (order_code) ON DELETE CASCADE,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_ms        INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX topups_pending ON topups (created_at) WHERE status = 'PENDING';
CREATE TRIGGER topup_reconcile_settled AFTER UPDATE OF status ON topups WHEN NEW.status <> 'PENDING'
BEGIN
    DELETE FROM topup_reconcile WHERE order_code = NEW.order_code;
END;
