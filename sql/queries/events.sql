-- The event log. An envelope is always built by SQL, so its JSON is produced
-- by SQLite's JSON functions and never by string pasting.

-- No RETURNING: SQLite keeps RETURNING rows in a temporary b-tree opened
-- on every run (half the CPU of a publish); the id is sqlite3_last_insert_rowid.
-- The id is SQLite's: one above the newest row, which store_prune never
-- deletes, so no id is handed out twice. (AUTOINCREMENT did that by reading
-- and rewriting sqlite_sequence on every insert: 8% of a publish's
-- instructions and a WAL frame per commit; migration 0006.) ?4: the time,
-- formatted by the caller.
-- name: event_append
INSERT INTO events (topic, type, ts, data)
VALUES (?1, ?2, ?4, json(?3));

-- The envelopes of committed events, for the Redis PUBLISH.
-- name: event_envelopes
SELECT id, json_object('id', id, 'topic', topic, 'type', type, 'ts', ts, 'data', json(data))
FROM events WHERE id BETWEEN ?1 AND ?2 ORDER BY id;

-- name: event_after
SELECT id, topic, type,
       json_object('id', id, 'topic', topic, 'type', type, 'ts', ts, 'data', json(data))
FROM events WHERE id > ?1 ORDER BY id LIMIT ?2;

-- name: event_after_topics
SELECT id, topic, type,
       json_object('id', id, 'topic', topic, 'type', type, 'ts', ts, 'data', json(data))
FROM events
WHERE id > ?1 AND id <= ?2
  AND topic IN (?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
ORDER BY id LIMIT ?19;

-- name: event_bounds
SELECT (SELECT v FROM meta WHERE k = 'pruned_upto'),
       max(COALESCE((SELECT max(id) FROM events), 0), (SELECT v FROM meta WHERE k = 'pruned_upto'));

-- name: event_prune
DELETE FROM events WHERE id <= ?1;

-- name: event_set_pruned
UPDATE meta SET v = max(v, ?1) WHERE k = 'pruned_upto';

-- name: event_min_id
SELECT COALESCE(min(id), 0) FROM events;

-- The members POST /api/publish reads, for a body json_is_object accepted:
-- the values of topic and type, the JSON type and value of data (text
-- unescaped, an object as minified JSON; of a repeated key the first), then
-- whether topic, and type, are whole, as in json_field (?2:
-- db_json_escapes_nul). Topic and type need no json_type: a JSON string
-- comes back as SQL text, a number or boolean as a number, and an object or
-- array as text starting with { or [, which no valid name does. (One
-- json_each pass over the members costs more than these calls, and a WHERE
-- key IN (...) of three names builds a temporary b-tree on every run.)
-- name: event_publish_body
SELECT json_extract(?1, '$.topic'), json_extract(?1, '$.type'),
       json_type(?1, '$.data'), json_extract(?1, '$.data'),
       CASE WHEN ?2 THEN coalesce(json_quote(json_extract(?1, '$.topic')) = (?1 -> '$.topic'), 0) ELSE 1 END,
       CASE WHEN ?2 THEN coalesce(json_quote(json_extract(?1, '$.type')) = (?1 -> '$.type'), 0) ELSE 1 END;

-- name: event_poll_reply
SELECT json_object('events', json(?1), 'last_id', CAST(?2 AS INTEGER),
                   'reset', json(CASE WHEN ?3 IS NULL THEN 'false' ELSE 'true' END),
                   'reason', ?3);

-- Replication to edge hosts (fcgi/relay.c, fcgi/mirror.c): the relay ships
-- the stored columns, the mirror stores them under the same id, so an edge
-- builds byte-identical envelopes. The fixpoint test is json_is_object's,
-- for any JSON value: what comes back from Redis is outside input.

-- name: event_rows_after
SELECT id, topic, type, ts, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2;

-- name: event_mirror
INSERT OR IGNORE INTO events (id, topic, type, ts, data)
SELECT ?1, ?2, ?3, ?4, json(?5)
WHERE length(?2) BETWEEN 1 AND 128 AND length(?3) BETWEEN 1 AND 64 AND length(?4) BETWEEN 1 AND 64
  AND json_valid(?5) AND json_valid(json(?5)) AND json(json(?5)) = json(?5);
