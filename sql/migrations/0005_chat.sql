-- Schema version 5: chat sessions (seed 004). An AI chat streams its answer
-- as events on topic chat:{session}; only the session's owner may read it.
-- A session is claimed by its owner (POST /api/chat/sessions) before it is
-- streamed, so reads never write.
CREATE TABLE chat_sessions (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
