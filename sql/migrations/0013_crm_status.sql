-- Schema version 13: agents' answers are sent to the customer's platform
-- (Facebook Send API, Zalo OA, TikTok) by pulse-batch, and carry a status:
--   sending -> sent -> delivered -> read, or failed (error holds why).
-- A status only moves forward; failed is final. Customers' messages have
-- none (NULL). Answers stored before this version were never sent: they
-- read as failed, saying so.
ALTER TABLE crm_messages ADD COLUMN status TEXT
    CHECK (status IN ('sending', 'sent', 'delivered', 'read', 'failed'));
ALTER TABLE crm_messages ADD COLUMN status_error TEXT;
-- When the send that succeeded began (Unix ms, our clock): a platform's
-- "everything up to this watermark" (Facebook's deliveries and reads)
-- covers the answers sent before it.
ALTER TABLE crm_messages ADD COLUMN sent_ms INTEGER;
UPDATE crm_messages SET status = 'failed', status_error = 'stored before Pulse sent answers to the platforms'
WHERE sender = 'agent';
CREATE INDEX crm_messages_sent ON crm_messages (conversation_id, sent_ms) WHERE status IN ('sent', 'delivered');

-- One row per answer still to send. A sender takes a row by a lease
-- (lease_owner until lease_until_ms), so one process sends it, whichever
-- process or host took the message; a row whose sender died is taken again
-- once its lease ran out. next_ms: not before (the back-off after a
-- failure that may pass). The row goes when the answer is sent or failed.
CREATE TABLE crm_outbox (
    message_id     TEXT PRIMARY KEY REFERENCES crm_messages (id) ON DELETE CASCADE,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_ms        INTEGER NOT NULL,
    lease_owner    TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    started_ms     INTEGER             -- when the attempt under way began
) WITHOUT ROWID;
CREATE INDEX crm_outbox_due ON crm_outbox (next_ms);

DROP VIEW crm_message_json;
CREATE VIEW crm_message_json AS
SELECT m.id, m.seq, m.conversation_id,
       json_object('id', m.id, 'conversationId', m.conversation_id, 'sender', m.sender,
                   'agentId', m.agent_id, 'content', m.content, 'sentAt', m.sent_at,
                   'platform', m.platform, 'platformMessageId', m.platform_message_id,
                   'status', m.status, 'error', m.status_error) AS message_json
FROM crm_messages m;

-- The message_status event: {id, conversationId, status, error?,
-- platformMessageId?} (json_patch drops the members that are NULL).
CREATE VIEW crm_message_status_json AS
SELECT m.id,
       json_patch(json_object('id', m.id, 'conversationId', m.conversation_id, 'status', m.status),
                  json_object('error', m.status_error, 'platformMessageId', m.platform_message_id)) AS status_json
FROM crm_messages m;
