-- Schema version 11: the room's owner pins one chat message (API.md,
-- PUT /api/live/rooms/{id}/chat/{cid}/pin). At most one message of a room
-- is pinned: the partial unique index holds that whatever writes, and
-- handlers/live_chat.c unpins the previous one before it pins the next, in
-- the same transaction. Every message written before this version is
-- unpinned.
ALTER TABLE live_chat ADD COLUMN is_pinned INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX live_chat_one_pinned ON live_chat (room_id) WHERE is_pinned;

DROP VIEW live_chat_json;
CREATE VIEW live_chat_json AS
SELECT c.room_id, c.id, c.is_pinned,
       json_object('id', c.id, 'userId', c.user_id, 'username', c.username, 'avatarUrl', c.avatar_url,
                   'message', c.message, 'type', c.type,
                   'isPinned', json(CASE WHEN c.is_pinned THEN 'true' ELSE 'false' END),
                   'createdAt', c.created_at) AS chat_json
FROM live_chat c;
