-- Schema version 4: the CRM inbox (seed 003). A customer writes to one of
-- the business's channels (a Facebook page, a Zalo OA, a TikTok shop) on a
-- platform; the pair customer + channel is one conversation; agents answer
-- in it. Ids are made here, so set-based webhook statements can make rows.

CREATE TABLE crm_customers (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    phone            TEXT NOT NULL DEFAULT '',
    email            TEXT NOT NULL DEFAULT '',
    notes            TEXT NOT NULL DEFAULT '',
    -- set for customers a webhook created: who they are on the platform
    platform         TEXT CHECK (platform IN ('facebook', 'zalo', 'tiktok')),
    platform_user_id TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (platform, platform_user_id)
);

CREATE TABLE crm_conversations (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES crm_customers (id) ON DELETE CASCADE,
    platform        TEXT NOT NULL CHECK (platform IN ('facebook', 'zalo', 'tiktok')),
    channel_id      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'PENDING', 'CLOSED')),
    last_message_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (customer_id, channel_id)
);
CREATE INDEX crm_conversations_recent ON crm_conversations (last_message_at);

-- A platform message id is stored once: a redelivered webhook changes
-- nothing. Agents' messages have none.
CREATE TABLE crm_messages (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    conversation_id     TEXT NOT NULL REFERENCES crm_conversations (id) ON DELETE CASCADE,
    sender              TEXT NOT NULL CHECK (sender IN ('customer', 'agent')),
    agent_id            TEXT,
    content             TEXT NOT NULL,
    sent_at             TEXT NOT NULL,
    platform            TEXT NOT NULL,
    platform_message_id TEXT,
    UNIQUE (platform, platform_message_id)
);
CREATE INDEX crm_messages_conversation ON crm_messages (conversation_id, seq);

-- Every platform message id ever stored, kept when an agent deletes the
-- customer (and with them the messages): a late redelivery must not bring
-- them back.
CREATE TABLE crm_seen (
    platform            TEXT NOT NULL,
    platform_message_id TEXT NOT NULL,
    PRIMARY KEY (platform, platform_message_id)
) WITHOUT ROWID;

CREATE VIEW crm_customer_json AS
SELECT c.id, c.rowid AS seq,
       json_object('id', c.id, 'name', c.name, 'phone', c.phone, 'email', c.email, 'notes', c.notes,
                   'platform', c.platform, 'platformUserId', c.platform_user_id,
                   'createdAt', c.created_at, 'updatedAt', c.updated_at) AS customer_json
FROM crm_customers c;

CREATE VIEW crm_conversation_json AS
SELECT v.id, v.rowid AS seq, v.status, v.last_message_at,
       json_object('id', v.id, 'customerId', v.customer_id, 'customerName', c.name,
                   'platform', v.platform, 'channelId', v.channel_id, 'status', v.status,
                   'lastMessageAt', v.last_message_at, 'createdAt', v.created_at) AS conversation_json
FROM crm_conversations v JOIN crm_customers c ON c.id = v.customer_id;

CREATE VIEW crm_message_json AS
SELECT m.id, m.seq, m.conversation_id,
       json_object('id', m.id, 'conversationId', m.conversation_id, 'sender', m.sender,
                   'agentId', m.agent_id, 'content', m.content, 'sentAt', m.sent_at,
                   'platform', m.platform, 'platformMessageId', m.platform_message_id) AS message_json
FROM crm_messages m;
