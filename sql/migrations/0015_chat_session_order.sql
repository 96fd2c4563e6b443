-- Schema version 15: a user's sessions are listed newest first in the
-- order they were claimed. created_at has whole seconds, and sessions
-- claimed in the same second came back in the order of their ids (random
-- ones, for {}). seq: the owner's own count, one above their newest; the
-- sessions stored before are numbered in the order they were listed.
ALTER TABLE chat_sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE chat_sessions SET seq = (
    SELECT count(*) FROM chat_sessions o
    WHERE o.owner_id = chat_sessions.owner_id
      AND (o.created_at < chat_sessions.created_at OR (o.created_at = chat_sessions.created_at AND o.id <= chat_sessions.id)));
CREATE INDEX chat_sessions_owner_seq ON chat_sessions (owner_id, seq);
