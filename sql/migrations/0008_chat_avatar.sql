-- Chat messages carry avatarUrl, from the poster's JWT `picture` claim
-- (API.md), which is stored only when it is an absolute http(s) URL
-- (handlers/live_chat.c): pages put it in an <img src>. NULL when the
-- token has none, as for every message written before this version.
ALTER TABLE live_chat ADD COLUMN avatar_url TEXT;

DROP VIEW live_chat_json;
CREATE VIEW live_chat_json AS
SELECT c.room_id, c.id,
       json_object('id', c.id, 'userId', c.user_id, 'username', c.username, 'avatarUrl', c.avatar_url,
                   'message', c.message, 'type', c.type, 'createdAt', c.created_at) AS chat_json
FROM live_chat c;
