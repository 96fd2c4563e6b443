-- Schema version 17: a platform's receipt can come before the answer's
-- send result is recorded (a customer online gets the message at once, and
-- the platform tells us before its answer to the send reaches pulse-batch).
-- Such a receipt is kept here and applied when the answer becomes sent.
--
-- By message id (Facebook delivery mids, Zalo msg_ids): an id no answer
-- holds yet, kept for 10 minutes (the platforms send receipts for
-- messages the page sent with other tools too, which no answer ever
-- claims).
CREATE TABLE crm_receipts_early (
    platform            TEXT NOT NULL,
    platform_message_id TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('delivered', 'read')),
    at_ms               INTEGER NOT NULL,
    PRIMARY KEY (platform, platform_message_id)
) WITHOUT ROWID;
CREATE INDEX crm_receipts_early_at ON crm_receipts_early (at_ms);

-- By watermark (Facebook deliveries and reads: everything sent before it):
-- the highest one told for a conversation, one row per status.
CREATE TABLE crm_receipt_marks (
    conversation_id TEXT NOT NULL REFERENCES crm_conversations (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('delivered', 'read')),
    mark_ms         INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, status)
) WITHOUT ROWID;

-- Receipts name answers by their platform id: found by an index, not by
-- reading every message.
CREATE INDEX crm_messages_platform_id ON crm_messages (platform, platform_message_id);
