-- The CRM inbox: customers, conversations and their messages (seed 003).
-- Objects are built by the crm_*_json views of migration 0004.

-- name: crm_customer_insert
INSERT INTO crm_customers (id, name, phone, email, notes, created_at, updated_at)
VALUES ('cus_' || lower(hex(randomblob(8))), ?1, COALESCE(?2, ''), COALESCE(?3, ''), COALESCE(?4, ''),
        strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
RETURNING id;

-- name: crm_customer_get
SELECT customer_json FROM crm_customer_json WHERE id = ?1;

-- Newest first, a page at a time.
-- name: crm_customer_list
SELECT json_object('customers', json_group_array(json(customer_json))) FROM (
    SELECT customer_json FROM crm_customer_json ORDER BY seq DESC LIMIT ?1 OFFSET ?2);

-- A NULL leaves the field as it is.
-- name: crm_customer_update
UPDATE crm_customers
SET name = COALESCE(?2, name), phone = COALESCE(?3, phone), email = COALESCE(?4, email),
    notes = COALESCE(?5, notes), updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
WHERE id = ?1;

-- name: crm_customer_deleted
SELECT json_object('id', ?1);

-- Its conversations and their messages go with it (ON DELETE CASCADE).
-- name: crm_customer_delete
DELETE FROM crm_customers WHERE id = ?1;

-- Most recently active first.
-- name: crm_conversation_list
SELECT json_object('conversations', json_group_array(json(conversation_json))) FROM (
    SELECT conversation_json FROM crm_conversation_json WHERE ?1 IS NULL OR status = ?1
    ORDER BY last_message_at DESC, seq DESC LIMIT ?2 OFFSET ?3);

-- name: crm_conversation_get
SELECT conversation_json, status FROM crm_conversation_json WHERE id = ?1;

-- name: crm_conversation_set_status
UPDATE crm_conversations SET status = ?2 WHERE id = ?1 AND status <> ?2;

-- The newest ?2 messages, oldest first.
-- name: crm_message_list
SELECT json_object('messages', json_group_array(json(message_json))) FROM (
    SELECT message_json FROM (SELECT message_json, seq FROM crm_message_json WHERE conversation_id = ?1
                              ORDER BY seq DESC LIMIT ?2)
    ORDER BY seq);

-- An agent's answer (?2 the agent's user id), to be sent: status sending
-- (crm_outbox_add); crm_conversation_touch moves the conversation up the
-- list.
-- name: crm_message_insert_agent
INSERT INTO crm_messages (id, conversation_id, sender, agent_id, content, sent_at, platform, status)
SELECT 'msg_' || lower(hex(randomblob(8))), v.id, 'agent', ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), v.platform,
       'sending'
FROM crm_conversations v WHERE v.id = ?1
RETURNING id;

-- (RETURNING: run through db_one_text, which wants a row.)
-- name: crm_conversation_touch
UPDATE crm_conversations SET last_message_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1
RETURNING id;

-- name: crm_message_get
SELECT message_json FROM crm_message_json WHERE id = ?1;

-- Webhooks (handlers/crm_webhooks.c) ---------------------------------------

-- The text messages of a Facebook delivery, in order, for a body
-- db_json_object accepted: entries may be batched, and each entry's
-- messaging array may mix messages with deliveries, reads and postbacks
-- (only items with a message object are returned; echoes of the page's own
-- messages are flagged). Per item: JSON type and value of sender.id,
-- recipient.id, message.mid, message.text, timestamp, then is_echo and the
-- item as sent (its escapes kept, so a \u0000 in it shows: ->> would cut a
-- string short there).
-- (CASE: json_each is never given an element that is not an object.)
-- name: crm_facebook_messages
SELECT json_type(m.value, '$.sender.id'), m.value ->> '$.sender.id',
       json_type(m.value, '$.recipient.id'), m.value ->> '$.recipient.id',
       json_type(m.value, '$.message.mid'), m.value ->> '$.message.mid',
       json_type(m.value, '$.message.text'), m.value ->> '$.message.text',
       json_type(m.value, '$.timestamp'), m.value ->> '$.timestamp',
       coalesce(json_type(m.value, '$.message.is_echo') = 'true', 0),
       m.value
FROM json_each(?1, '$.entry') AS e,
     json_each(CASE WHEN e.type = 'object' THEN e.value ELSE '{}' END, '$.messaging') AS m
WHERE m.type = 'object' AND json_type(m.value, '$.message') = 'object'
ORDER BY e.id, m.id;

-- Remembers a platform message id; no row changes when it was seen before.
-- name: crm_seen_add
INSERT INTO crm_seen (platform, platform_message_id) VALUES (?1, ?2)
ON CONFLICT (platform, platform_message_id) DO NOTHING;

-- A customer as the platform knows them (?1 platform, ?2 their id there,
-- ?3 a name until an agent sets one). Run, then crm_customer_by_platform.
-- name: crm_customer_from_platform
INSERT INTO crm_customers (id, name, platform, platform_user_id, created_at, updated_at)
VALUES ('cus_' || lower(hex(randomblob(8))), ?3, ?1, ?2,
        strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (platform, platform_user_id) DO NOTHING;

-- name: crm_customer_by_platform
SELECT id FROM crm_customers WHERE platform = ?1 AND platform_user_id = ?2;

-- (?1 customer, ?2 platform, ?3 channel.) Run, then crm_conversation_of.
-- name: crm_conversation_open
INSERT INTO crm_conversations (id, customer_id, platform, channel_id, last_message_at, created_at)
VALUES ('conv_' || lower(hex(randomblob(8))), ?1, ?2, ?3,
        strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (customer_id, channel_id) DO NOTHING;

-- name: crm_conversation_of
SELECT id, status FROM crm_conversations WHERE customer_id = ?1 AND channel_id = ?2;

-- A customer's message (?1 conversation, ?2 platform, ?3 platform message
-- id, ?4 text, ?5 sent time in ms since the epoch, the platform's clock;
-- the arrival time when absent or absurd). The conversation is active
-- again, and a CLOSED one reopens.
-- name: crm_message_from_platform
INSERT INTO crm_messages (id, conversation_id, sender, content, sent_at, platform, platform_message_id)
VALUES ('msg_' || lower(hex(randomblob(8))), ?1, 'customer', ?4,
        CASE WHEN typeof(?5) = 'integer' AND ?5 BETWEEN 946684800000 AND 4102444800000
             THEN strftime('%Y-%m-%dT%H:%M:%SZ', ?5 / 1000, 'unixepoch')
             ELSE strftime('%Y-%m-%dT%H:%M:%SZ', 'now') END,
        ?2, ?3)
RETURNING id;

-- name: crm_conversation_status
SELECT status FROM crm_conversations WHERE id = ?1;

-- name: crm_conversation_reopen
UPDATE crm_conversations
SET last_message_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
    status = CASE WHEN status = 'CLOSED' THEN 'OPEN' ELSE status END
WHERE id = ?1
RETURNING status;

-- Sending agents' answers to the platforms (handlers/crm_send.c, run by
-- pulse-batch's sender) and their status (handlers/crm_status.c) ----------
-- Times are Unix ms of SQLite's clock, as the outbox's lease and back-off.

-- An answer waiting to be sent (?1 its id), due now.
-- name: crm_outbox_add
INSERT INTO crm_outbox (message_id, next_ms) VALUES (?1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

-- 1 when some answer is due and not held by a live lease.
-- name: crm_send_pending
SELECT EXISTS (SELECT 1 FROM crm_outbox
               WHERE next_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                 AND lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

-- 1 when some answer is still to be sent, due or not (tried again later,
-- or leased): the shared-hosting worker stays for it.
-- name: crm_send_later
SELECT EXISTS (SELECT 1 FROM crm_outbox);

-- Leases at most ?3 due answers to owner ?1 for ?2 ms; each is one more
-- attempt.
-- name: crm_send_claim
UPDATE crm_outbox
SET lease_owner = ?1, lease_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?2,
    attempts = attempts + 1, started_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
WHERE message_id IN (SELECT message_id FROM crm_outbox
                     WHERE next_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                       AND lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                     ORDER BY next_ms LIMIT ?3)
RETURNING message_id;

-- What answer ?1 is sent as: its platform, the customer's id there, and
-- the request body each platform documents (NULL without a customer id).
-- name: crm_send_job
SELECT m.platform, u.platform_user_id,
       CASE WHEN u.platform_user_id IS NOT NULL THEN
         CASE m.platform
           WHEN 'facebook' THEN json_object('recipient', json_object('id', u.platform_user_id),
                                            'messaging_type', 'RESPONSE', 'message', json_object('text', m.content))
           WHEN 'zalo' THEN json_object('recipient', json_object('user_id', u.platform_user_id),
                                        'message', json_object('text', m.content))
           WHEN 'tiktok' THEN json_object('business_id', v.channel_id, 'recipient_type', 'USER',
                                          'recipient', u.platform_user_id, 'message_type', 'TEXT',
                                          'text', json_object('body', m.content))
         END
       END
FROM crm_messages m JOIN crm_conversations v ON v.id = m.conversation_id JOIN crm_customers u ON u.id = v.customer_id
WHERE m.id = ?1 AND m.status = 'sending';

-- A platform's answer to a send, for a body db_json_object accepted (?1
-- platform, ?2 body): the message id it gave, or its error's message. Each
-- platform's own envelope: Facebook {message_id} or {error:{message}}; Zalo
-- {error:0, data:{message_id}} or {error:<non-zero>, message}; TikTok
-- {code:0, data:{message:{message_id}}} or {code:<non-zero>, message}.
-- name: crm_send_reply
SELECT CASE ?1
         WHEN 'facebook' THEN CASE WHEN json_type(?2, '$.message_id') = 'text' THEN ?2 ->> '$.message_id' END
         WHEN 'zalo' THEN CASE WHEN json_type(?2, '$.error') = 'integer' AND ?2 ->> '$.error' = 0
                                    AND json_type(?2, '$.data.message_id') IN ('text', 'integer')
                               THEN CAST(?2 ->> '$.data.message_id' AS TEXT) END
         WHEN 'tiktok' THEN CASE WHEN json_type(?2, '$.code') = 'integer' AND ?2 ->> '$.code' = 0
                                      AND json_type(?2, '$.data.message.message_id') = 'text'
                                 THEN ?2 ->> '$.data.message.message_id' END
       END,
       CASE ?1
         WHEN 'facebook' THEN CASE WHEN json_type(?2, '$.error.message') = 'text' THEN ?2 ->> '$.error.message' END
         WHEN 'zalo' THEN CASE WHEN json_type(?2, '$.error') = 'integer' AND ?2 ->> '$.error' <> 0
                               THEN 'Zalo error ' || (?2 ->> '$.error')
                                    || CASE WHEN json_type(?2, '$.message') = 'text' THEN ': ' || (?2 ->> '$.message')
                                            ELSE '' END END
         WHEN 'tiktok' THEN CASE WHEN json_type(?2, '$.code') = 'integer' AND ?2 ->> '$.code' <> 0
                                 THEN 'TikTok error ' || (?2 ->> '$.code')
                                      || CASE WHEN json_type(?2, '$.message') = 'text' THEN ': ' || (?2 ->> '$.message')
                                              ELSE '' END END
       END;

-- Answer ?1 was sent, as platform message ?3, by owner ?2 (whose lease it
-- must still be: one that lost it writes nothing).
-- name: crm_send_sent
UPDATE crm_messages
SET status = 'sent', platform_message_id = ?3, status_error = NULL,
    sent_ms = (SELECT started_ms FROM crm_outbox WHERE message_id = ?1)
WHERE id = ?1 AND status = 'sending'
  AND EXISTS (SELECT 1 FROM crm_outbox WHERE message_id = ?1 AND lease_owner = ?2)
RETURNING id;

-- Answer ?1 failed for good (?3 why), told by owner ?2.
-- name: crm_send_failed
UPDATE crm_messages SET status = 'failed', status_error = ?3
WHERE id = ?1 AND status = 'sending'
  AND (?2 IS NULL OR EXISTS (SELECT 1 FROM crm_outbox WHERE message_id = ?1 AND lease_owner = ?2))
RETURNING id;

-- name: crm_outbox_done
DELETE FROM crm_outbox WHERE message_id = ?1;

-- Answer ?1's attempts so far (owner ?2's lease), or no row.
-- name: crm_outbox_attempts
SELECT attempts FROM crm_outbox WHERE message_id = ?1 AND lease_owner = ?2;

-- Owner ?2 lets answer ?1 go, to be tried again ?3 ms from now.
-- name: crm_outbox_retry
UPDATE crm_outbox
SET lease_owner = NULL, lease_until_ms = 0,
    next_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?3
WHERE message_id = ?1 AND lease_owner = ?2;

-- name: crm_message_status
SELECT status_json FROM crm_message_status_json WHERE id = ?1;

-- The receipts of a Facebook delivery (a body db_json_object_shape
-- accepted): per message_deliveries or message_reads item, the customer
-- (sender.id) and the page (recipient.id) with their JSON types, the new
-- status, the watermark (ms) and its type, the delivered mids (a JSON
-- array, or NULL), and the item as sent (as in crm_facebook_messages).
-- name: crm_facebook_receipts
SELECT json_type(m.value, '$.sender.id'), m.value ->> '$.sender.id',
       json_type(m.value, '$.recipient.id'), m.value ->> '$.recipient.id',
       CASE WHEN json_type(m.value, '$.delivery') = 'object' THEN 'delivered' ELSE 'read' END,
       json_type(m.value, CASE WHEN json_type(m.value, '$.delivery') = 'object' THEN '$.delivery.watermark'
                               ELSE '$.read.watermark' END),
       m.value -> CASE WHEN json_type(m.value, '$.delivery') = 'object' THEN '$.delivery.watermark'
                       ELSE '$.read.watermark' END,
       CASE WHEN json_type(m.value, '$.delivery.mids') = 'array' THEN m.value ->> '$.delivery.mids' END,
       m.value
FROM json_each(?1, '$.entry') AS e,
     json_each(CASE WHEN e.type = 'object' THEN e.value ELSE '{}' END, '$.messaging') AS m
WHERE m.type = 'object'
  AND (json_type(m.value, '$.delivery') = 'object' OR json_type(m.value, '$.read') = 'object')
ORDER BY e.id, m.id;

-- Agents' answers on ?1 whose platform ids are in the JSON array ?2 move
-- to status ?3 (delivered or read), never back.
-- name: crm_status_by_mids
UPDATE crm_messages SET status = ?3
WHERE platform = ?1 AND sender = 'agent'
  AND platform_message_id IN (SELECT value FROM json_each(?2) WHERE type = 'text')
  AND (status = 'sent' OR (?3 = 'read' AND status = 'delivered'))
RETURNING id;

-- Agents' answers to customer ?2 (on platform ?1) through channel ?3 sent
-- before watermark ?4 (Unix ms) move to status ?5, never back.
-- name: crm_status_upto
UPDATE crm_messages SET status = ?5
WHERE conversation_id = (SELECT v.id FROM crm_conversations v JOIN crm_customers u ON u.id = v.customer_id
                         WHERE u.platform = ?1 AND u.platform_user_id = ?2 AND v.channel_id = ?3)
  AND sender = 'agent' AND sent_ms <= CAST(?4 AS INTEGER)
  AND (status = 'sent' OR (?5 = 'read' AND status = 'delivered'))
RETURNING id;

-- A Zalo receipt's message ids (a body db_json_object accepted), as a JSON
-- array, or NULL.
-- name: crm_zalo_msg_ids
SELECT CASE WHEN json_type(?1, '$.message.msg_ids') = 'array' THEN ?1 ->> '$.message.msg_ids' END;

-- name: crm_message_platform
SELECT platform FROM crm_messages WHERE id = ?1;

-- What Zalo signs besides the body: app_id and timestamp as the body
-- carries them (a string or an integer, as text), for a body
-- db_json_object accepted; NULLs when either is missing or another type.
-- name: crm_zalo_signed_fields
SELECT CASE WHEN json_type(?1, '$.app_id') IN ('text', 'integer') THEN ?1 ->> '$.app_id' END,
       CASE WHEN json_type(?1, '$.timestamp') IN ('text', 'integer') THEN ?1 ->> '$.timestamp' END;

-- Receipts that came before their answer was sent (migration 0017).
-- Those by message id are kept 10 minutes.
-- name: crm_receipts_prune
DELETE FROM crm_receipts_early
WHERE at_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 600000;

-- The ids of a receipt (?1 platform, ?2 a JSON array of ids, ?3 delivered
-- or read) that no message holds yet, kept (read outranks delivered).
-- name: crm_receipts_keep
INSERT INTO crm_receipts_early (platform, platform_message_id, status, at_ms)
SELECT ?1, j.value, ?3, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM json_each(?2) AS j
WHERE j.type = 'text' AND length(j.value) BETWEEN 1 AND 128
  AND NOT EXISTS (SELECT 1 FROM crm_messages m WHERE m.platform = ?1 AND m.platform_message_id = j.value)
ON CONFLICT (platform, platform_message_id) DO UPDATE
SET status = CASE WHEN excluded.status = 'read' THEN 'read' ELSE crm_receipts_early.status END;

-- A watermark (?4, Unix ms) told for the conversation of customer ?2 (on
-- platform ?1) through channel ?3, status ?5: the highest one is kept.
-- name: crm_receipts_mark
INSERT INTO crm_receipt_marks (conversation_id, status, mark_ms)
SELECT v.id, ?5, CAST(?4 AS INTEGER)
FROM crm_conversations v JOIN crm_customers u ON u.id = v.customer_id
WHERE u.platform = ?1 AND u.platform_user_id = ?2 AND v.channel_id = ?3
ON CONFLICT (conversation_id, status) DO UPDATE SET mark_ms = max(mark_ms, excluded.mark_ms);

-- Answer ?1, just sent, moves on as far as the receipts told before it
-- was (by its id, or by a watermark at or after its send began).
-- name: crm_status_early
UPDATE crm_messages AS m
SET status = CASE WHEN EXISTS (SELECT 1 FROM crm_receipts_early r
                               WHERE r.platform = m.platform AND r.platform_message_id = m.platform_message_id
                                 AND r.status = 'read')
                    OR EXISTS (SELECT 1 FROM crm_receipt_marks k
                               WHERE k.conversation_id = m.conversation_id AND k.status = 'read'
                                 AND k.mark_ms >= m.sent_ms)
                  THEN 'read' ELSE 'delivered' END
WHERE m.id = ?1 AND m.status = 'sent'
  AND (EXISTS (SELECT 1 FROM crm_receipts_early r
               WHERE r.platform = m.platform AND r.platform_message_id = m.platform_message_id)
       OR EXISTS (SELECT 1 FROM crm_receipt_marks k
                  WHERE k.conversation_id = m.conversation_id AND k.mark_ms >= m.sent_ms))
RETURNING id;

-- The early receipt of answer ?1, applied.
-- name: crm_receipts_used
DELETE FROM crm_receipts_early
WHERE (platform, platform_message_id) = (SELECT platform, platform_message_id FROM crm_messages WHERE id = ?1);
