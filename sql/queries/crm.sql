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

-- An agent's answer (?2 the agent's user id). Its status stays as agents
-- set it; crm_conversation_touch moves it up the list.
-- name: crm_message_insert_agent
INSERT INTO crm_messages (id, conversation_id, sender, agent_id, content, sent_at, platform)
SELECT 'msg_' || lower(hex(randomblob(8))), v.id, 'agent', ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), v.platform
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
-- recipient.id, message.mid, message.text, timestamp, then is_echo.
-- (CASE: json_each is never given an element that is not an object.)
-- name: crm_facebook_messages
SELECT json_type(m.value, '$.sender.id'), m.value ->> '$.sender.id',
       json_type(m.value, '$.recipient.id'), m.value ->> '$.recipient.id',
       json_type(m.value, '$.message.mid'), m.value ->> '$.message.mid',
       json_type(m.value, '$.message.text'), m.value ->> '$.message.text',
       json_type(m.value, '$.timestamp'), m.value ->> '$.timestamp',
       coalesce(json_type(m.value, '$.message.is_echo') = 'true', 0)
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
