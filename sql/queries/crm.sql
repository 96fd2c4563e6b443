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

-- An agent's answer (?2 the agent's user id); the conversation is active
-- again.
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
