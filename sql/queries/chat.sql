-- Chat sessions (seed 004): who owns topic chat:{id}.

-- The id a client names (?1) or a fresh one, claimed for ?2; an id
-- already claimed stays with its owner. Then chat_session_get tells who
-- has it.
-- name: chat_session_claim
INSERT INTO chat_sessions (id, owner_id, created_at, seq)
VALUES (COALESCE(?1, 's_' || lower(hex(randomblob(16)))), ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
        COALESCE((SELECT max(seq) FROM chat_sessions WHERE owner_id = ?2), 0) + 1)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: chat_session_get
SELECT json_object('id', id, 'ownerId', owner_id, 'topic', 'chat:' || id, 'createdAt', created_at), owner_id
FROM chat_sessions WHERE id = ?1;

-- name: chat_session_owner
SELECT owner_id FROM chat_sessions WHERE id = ?1;

-- name: chat_session_list
SELECT json_object('sessions', json_group_array(json_object('id', id, 'ownerId', owner_id, 'topic', 'chat:' || id,
                                                            'createdAt', created_at)))
FROM (SELECT * FROM chat_sessions WHERE owner_id = ?1 ORDER BY seq DESC LIMIT ?2);

-- ---- messages

-- User messages ?1 posted in the last minute (the per-user rate limit of
-- ?2 a minute), and the seconds until the ?2-th newest of them leaves that
-- minute: when there are ?2, the next message is taken then (Retry-After).
-- name: chat_message_rate
WITH now(ms) AS (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
recent AS (
    SELECT created_ms FROM chat_messages, now
    WHERE user_id = ?1 AND role = 'user' AND created_ms > now.ms - 60000)
SELECT (SELECT count(*) FROM recent),
       max(1, COALESCE((SELECT (created_ms + 60000 - (SELECT ms FROM now) + 999) / 1000 FROM recent
                        ORDER BY created_ms DESC LIMIT 1 OFFSET ?2 - 1), 1));

-- (json_group_array takes rows in the order its FROM gives them: the
-- pages below order the rows they aggregate, not the aggregate.)

-- The answer of session ?1 still streaming, if any.
-- name: chat_message_streaming
SELECT id FROM chat_messages WHERE session_id = ?1 AND status = 'streaming';

-- A new message: ?1 id, ?2 session, ?3 user, ?4 role, ?5 content, ?6 status.
-- content_upto: the log's head, so that reading the answer's text so far
-- (chat_answer_so_far) looks only at what is logged after it.
-- name: chat_message_insert
INSERT INTO chat_messages (id, session_id, user_id, role, content, status, created_at, created_ms, completed_at,
                           content_upto)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
        CASE WHEN ?6 = 'complete' THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
        COALESCE((SELECT max(id) FROM events), 0));

-- name: chat_message_get
SELECT message_json, session_id, status FROM chat_message_json WHERE id = ?1;

-- A page of session ?1's history, oldest first: the ?3 messages before
-- message ?2 (or the newest ?3 when ?2 is NULL). 0 rows when ?2 names no
-- message of the session.
-- name: chat_message_page
SELECT json_object('messages', json_group_array(json(message_json)))
FROM (SELECT message_json FROM (
          SELECT message_json, n FROM chat_message_json
          WHERE session_id = ?1
            AND n < COALESCE((SELECT n FROM chat_messages WHERE id = ?2 AND session_id = ?1),
                             CASE WHEN ?2 IS NULL THEN 9223372036854775807 ELSE -1 END)
          ORDER BY n DESC LIMIT ?3)
      ORDER BY n);

-- Ends answer ?1 while it streams: ?2 status, ?3 error code, ?4 finish
-- reason, ?5 usage (JSON or NULL), ?6 the lease owner it must still
-- have, or NULL for anyone (a cancel). The text so far (the row's and the
-- log's) becomes the row's. Returns what the event tells.
-- name: chat_message_end
UPDATE chat_messages
SET status = ?2, error_code = ?3, finish_reason = ?4, usage = json(?5),
    completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), lease_owner = NULL,
    (content, seq) = (SELECT s.content, s.seq FROM chat_answer_so_far s WHERE s.id = ?1),
    content_upto = COALESCE((SELECT max(id) FROM events), 0)
WHERE id = ?1 AND status = 'streaming' AND (?6 IS NULL OR lease_owner = ?6)
RETURNING session_id, content, user_id,
          CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - created_ms;

-- ---- the generator (handlers/chat_gen.c)

-- Takes at most ?3 answers waiting for a generator for owner ?1, leased
-- for ?2 ms.
-- name: chat_gen_claim
UPDATE chat_messages
SET lease_owner = ?1, lease_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?2
WHERE id IN (SELECT id FROM chat_messages WHERE status = 'streaming' AND lease_owner IS NULL ORDER BY n LIMIT ?3)
RETURNING id, session_id, n, seq;

-- What answer ?1 (in session ?2, written as n = ?3) is asked: the
-- session's ?4 messages before it with text, oldest first, as an OpenAI
-- messages array.
-- name: chat_gen_history
SELECT json_group_array(json_object('role', role, 'content', content))
FROM (SELECT role, content FROM (
          SELECT role, content, n FROM chat_messages
          WHERE session_id = ?2 AND n < ?3 AND content <> '' AND status <> 'streaming'
          ORDER BY n DESC LIMIT ?4)
      ORDER BY n);

-- The session of answer ?1 and the data of its chat.delta event ?3 for
-- the text ?2, while owner ?4 generates it; no row when the answer is not
-- its own any more (cancelled, or its lease lost). The event is the text's
-- record: the row takes it in only now and then (chat_gen_text).
-- name: chat_gen_delta
SELECT session_id, json_object('messageId', id, 'seq', ?3, 'delta', ?2) FROM chat_messages
WHERE id = ?1 AND status = 'streaming' AND lease_owner = ?4;

-- Answer ?1's row takes in ?4, the text of its deltas logged since the
-- row's last write, up to delta seq ?3, while owner ?2 generates it. (An
-- UPDATE that sets lease_until_ms rewrites the answer's entry in
-- chat_messages_streaming too: 17,000 instructions; so the lease is
-- extended only by chat_gen_text_lease, the first write after each
-- renewal, request/gen.c.)
-- name: chat_gen_text
UPDATE chat_messages
SET content = content || ?4, seq = ?3, content_upto = (SELECT max(id) FROM events)
WHERE id = ?1 AND status = 'streaming' AND lease_owner = ?2;

-- chat_gen_text that also extends the lease by ?5 ms.
-- name: chat_gen_text_lease
UPDATE chat_messages
SET content = content || ?4, seq = ?3, content_upto = (SELECT max(id) FROM events),
    lease_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?5
WHERE id = ?1 AND status = 'streaming' AND lease_owner = ?2;

-- Extends owner ?1's lease on answer ?3 by ?2 ms; a row when it is still its own.
-- name: chat_gen_renew
UPDATE chat_messages
SET lease_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?2
WHERE id = ?3 AND status = 'streaming' AND lease_owner = ?1
RETURNING id;

-- Answers whose generator's lease ran out (it died): ended as errors.
-- name: chat_gen_expired
SELECT id, lease_owner FROM chat_messages
WHERE status = 'streaming' AND lease_owner IS NOT NULL
  AND lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
ORDER BY lease_until_ms
LIMIT 100;

-- ---- event data (the audit rides in each: who, which message, lengths, durations)

-- chat.message: message ?1 as stored, and who posted it (?2).
-- name: chat_event_message
SELECT json_set(message_json, '$.audit',
                json_object('userId', ?2, 'length', length(json_extract(message_json, '$.content'))))
FROM chat_message_json WHERE id = ?1;

-- chat.done: ?1 message, ?2 content, ?3 finish reason, ?4 usage (JSON or
-- NULL), ?5 user, ?6 duration in ms, ?7 model; ?8 not NULL: the content
-- is left out (null), as when with it the event would be over
-- PULSE_MAX_EVENT_BYTES (the row has it all).
-- name: chat_event_done
SELECT json_object('messageId', ?1, 'content', CASE WHEN ?8 IS NULL THEN ?2 END, 'finishReason', ?3,
                   'usage', json(?4),
                   'audit', json_object('userId', ?5, 'length', length(?2), 'durationMs', CAST(?6 AS INTEGER),
                                        'model', ?7));

-- chat.cancelled and chat.error: ?1 message, ?2 content, ?3 code, ?4
-- message, ?5 user, ?6 duration in ms, ?7 who ended it; ?8 as above.
-- name: chat_event_ended
SELECT json_object('messageId', ?1, 'content', CASE WHEN ?8 IS NULL THEN ?2 END, 'code', ?3, 'message', ?4,
                   'audit', json_object('userId', ?5, 'length', length(?2), 'durationMs', CAST(?6 AS INTEGER),
                                        'by', ?7));

-- name: chat_post_answer
SELECT json_object('userMessage', json((SELECT message_json FROM chat_message_json WHERE id = ?1)),
                   'assistantMessage', json((SELECT message_json FROM chat_message_json WHERE id = ?2)));

-- name: chat_message_json
SELECT message_json FROM chat_message_json WHERE id = ?1;

-- 1 when some answer streams, leased or not: the shared-hosting worker
-- stays until it ends (a lease may be a killed worker's, swept once it
-- runs out).
-- name: chat_gen_later
SELECT EXISTS (SELECT 1 FROM chat_messages WHERE status = 'streaming');

-- 1 when an answer waits for a generator or one's lease ran out.
-- name: chat_gen_pending
SELECT EXISTS (SELECT 1 FROM chat_messages
               WHERE status = 'streaming'
                 AND (lease_owner IS NULL
                      OR lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)));
