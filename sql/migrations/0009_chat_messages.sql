-- Schema version 9: AI chat messages (seed 004). A user message and the
-- assistant's answer to it; the answer is generated on the server
-- (fcgi/request/gen.c with handlers/chat_gen.c) and grows in place: every
-- piece of text is appended to content and to the log (chat.delta) in one
-- commit, so content always equals the deltas up to the log's head.
--
-- A generator holds an answer by a lease (lease_owner until
-- lease_until_ms, SQLite's clock in Unix milliseconds, renewed while it
-- runs); an answer whose lease ran out ends as error/interrupted, so none
-- stays 'streaming' after its generator died. At most one answer of a
-- session streams at a time, whichever process or host posts (the unique
-- index).
CREATE TABLE chat_messages (
    n              INTEGER PRIMARY KEY,   -- order of writing: history pages by it
    id             TEXT NOT NULL UNIQUE,  -- m_ and 32 hex
    session_id     TEXT NOT NULL REFERENCES chat_sessions (id),
    user_id        TEXT NOT NULL,         -- who posted it, or whom it answers
    role           TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content        TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'cancelled', 'error')),
    created_at     TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    completed_at   TEXT,
    seq            INTEGER NOT NULL DEFAULT 0,  -- the answer's last chat.delta
    finish_reason  TEXT,
    error_code     TEXT,
    usage          TEXT,                  -- the upstream's usage object, as JSON
    lease_owner    TEXT,                  -- NULL: waiting for a generator
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX chat_messages_one_streaming ON chat_messages (session_id) WHERE status = 'streaming';
CREATE INDEX chat_messages_session ON chat_messages (session_id, n);
CREATE INDEX chat_messages_user ON chat_messages (user_id, created_ms) WHERE role = 'user';
CREATE INDEX chat_messages_streaming ON chat_messages (lease_owner, lease_until_ms) WHERE status = 'streaming';

CREATE VIEW chat_message_json AS
SELECT m.n, m.id, m.session_id, m.status,
       json_object('id', m.id, 'sessionId', m.session_id, 'role', m.role, 'content', m.content,
                   'status', m.status, 'createdAt', m.created_at, 'completedAt', m.completed_at) AS message_json
FROM chat_messages m;

CREATE INDEX chat_sessions_owner ON chat_sessions (owner_id, created_at);
