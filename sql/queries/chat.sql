-- Chat sessions (seed 004): who owns topic chat:{id}.

-- The id a client's own id names for its owner (?1, handlers/chat.c
-- scoped_id) or a fresh one, claimed for ?2; an id already claimed stays
-- with its owner. Then chat_session_get tells who has it.
-- name: chat_session_claim
INSERT INTO chat_sessions (id, owner_id, created_at)
VALUES (COALESCE(?1, 's_' || lower(hex(randomblob(16)))), ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: chat_session_get
SELECT json_object('id', id, 'ownerId', owner_id, 'topic', 'chat:' || id, 'createdAt', created_at), owner_id
FROM chat_sessions WHERE id = ?1;

-- name: chat_session_owner
SELECT owner_id FROM chat_sessions WHERE id = ?1;
