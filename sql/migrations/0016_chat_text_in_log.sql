-- Schema version 16: while an answer streams, its text so far is the row's
-- content followed by its chat.delta events logged after content_upto.
--
-- Rewriting the row at every delta cost a page (more, once the text spilled
-- to overflow pages) written to the WAL and checkpointed back, at 20 deltas
-- a second per answer: about a quarter of pulse-batch's CPU a delta at
-- 1,000 answers (bench/HISTORY.md). The generator now logs every delta and
-- writes the row only now and then (with its lease, and after a bounded
-- number of deltas); the end of an answer writes the whole text into the
-- row, so an ended answer reads as before. Nothing in the log is pruned
-- before the row took it in: the generator writes the row far more often
-- than retention could reach the deltas (request/gen.c, gen_row_every).
ALTER TABLE chat_messages ADD COLUMN content_upto INTEGER NOT NULL DEFAULT 0;
-- The rows written before hold every delta already.
UPDATE chat_messages SET content_upto = COALESCE((SELECT max(id) FROM events), 0);

-- A streaming answer's text so far and its last seq, the row and the log
-- together (the answer's topic is chat:{session}; events_topic_id finds
-- its deltas after content_upto).
CREATE VIEW chat_answer_so_far AS
SELECT m.id,
       m.content || COALESCE((SELECT group_concat(json_extract(d.data, '$.delta'), '')
                              FROM (SELECT e.data FROM events e
                                    WHERE e.topic = 'chat:' || m.session_id AND e.id > m.content_upto
                                      AND e.type = 'chat.delta'
                                      AND json_extract(e.data, '$.messageId') = m.id
                                    ORDER BY e.id) d), '') AS content,
       COALESCE((SELECT json_extract(e.data, '$.seq') FROM events e
                 WHERE e.topic = 'chat:' || m.session_id AND e.id > m.content_upto
                   AND e.type = 'chat.delta' AND json_extract(e.data, '$.messageId') = m.id
                 ORDER BY e.id DESC LIMIT 1), m.seq) AS seq
FROM chat_messages m;

-- The message as read (history, get, the events that carry it): a
-- streaming answer with the text so far.
DROP VIEW chat_message_json;
CREATE VIEW chat_message_json AS
SELECT m.n, m.id, m.session_id, m.status,
       json_object('id', m.id, 'sessionId', m.session_id, 'role', m.role,
                   'content', CASE WHEN m.status = 'streaming'
                                   THEN (SELECT s.content FROM chat_answer_so_far s WHERE s.id = m.id)
                                   ELSE m.content END,
                   'status', m.status, 'createdAt', m.created_at, 'completedAt', m.completed_at) AS message_json
FROM chat_messages m;
