-- Schema version 10: who may read a topic that not everyone may read, as
-- facts that travel with the log. An edge's database holds only its copy
-- of the log (no chat_sessions, no topups), so the access rules
-- (fcgi/auth/access.c) fall back to these there: every claim of a chat
-- session and every new top-up also emits a `topic.owner` event on the
-- admins' topic pulse.owners, and this trigger files it, on the primary
-- and on each edge that copies it. Filed at once: pruning the event later
-- loses nothing. The first fact about a topic stands (a session is claimed
-- once, a top-up created once).
CREATE TABLE topic_owners (
    topic        TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL,
    token_sha256 TEXT             -- hex SHA-256 of the topic's stream token, if it has one
) WITHOUT ROWID;

CREATE TRIGGER topic_owner_filed AFTER INSERT ON events
WHEN NEW.topic = 'pulse.owners' AND NEW.type = 'topic.owner'
     AND json_valid(NEW.data) AND json_type(NEW.data, '$.topic') = 'text'
     AND json_type(NEW.data, '$.ownerId') = 'text'
BEGIN
    INSERT INTO topic_owners (topic, owner_id, token_sha256)
    VALUES (json_extract(NEW.data, '$.topic'), json_extract(NEW.data, '$.ownerId'),
            CASE WHEN json_type(NEW.data, '$.tokenSha256') = 'text' THEN json_extract(NEW.data, '$.tokenSha256') END)
    ON CONFLICT (topic) DO NOTHING;
END;
