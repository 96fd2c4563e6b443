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

-- The prefix of ids that may be missing whatever the topic (a gap in an
-- edge's copy, or pruned by age), and the highest id ever assigned.
-- name: event_bounds
SELECT max((SELECT v FROM meta WHERE k = 'pruned_upto'), (SELECT v FROM meta WHERE k = 'aged_upto')),
       max(COALESCE((SELECT max(id) FROM events), 0), (SELECT v FROM meta WHERE k = 'pruned_upto'),
           (SELECT v FROM meta WHERE k = 'aged_upto'));

-- Retention (fcgi/store.c store_prune; the tables: migration 0007).

-- Whether an event of the topics ?2..?17 (unused slots NULL) with id > ?1
-- may be gone: an edge's gap, or the topic's own floor, which for a topic
-- without a row is the age floor.
-- name: event_pruned_topics
WITH t(topic) AS (VALUES (?2), (?3), (?4), (?5), (?6), (?7), (?8), (?9), (?10), (?11), (?12), (?13), (?14),
                         (?15), (?16), (?17))
SELECT (SELECT v FROM meta WHERE k = 'pruned_upto') > ?1
    OR EXISTS (SELECT 1 FROM t LEFT JOIN topic_retention r ON r.topic = t.topic
               WHERE t.topic IS NOT NULL
                 AND COALESCE(r.pruned_upto, (SELECT v FROM meta WHERE k = 'aged_upto')) > ?1);

-- The topics with an event of id > ?1 pruned (through the index: in a
-- healthy log, none).
-- name: event_topics_pruned_after
SELECT topic, pruned_upto FROM topic_retention WHERE pruned_upto > ?1;

-- counted_upto, aged_upto, the oldest and the newest id.
-- name: event_prune_state
SELECT (SELECT v FROM meta WHERE k = 'counted_upto'), (SELECT v FROM meta WHERE k = 'aged_upto'),
       COALESCE((SELECT min(id) FROM events), 0), COALESCE((SELECT max(id) FROM events), 0);

-- The oldest event's id and time (unix seconds; ?1 when it has none that
-- reads as one).
-- name: event_oldest
SELECT id, COALESCE(CAST(strftime('%s', ts) AS INTEGER), ?1) FROM events ORDER BY id LIMIT 1;

-- name: event_set_meta
UPDATE meta SET v = max(v, ?2) WHERE k = ?1;

-- The end of the oldest run of events among ids ?1..?2 that are older than
-- ?3 (unix seconds): one below the first younger event, or ?2. The times
-- are RFC 3339 UTC strings of one width, ordered as text.
-- name: event_aged_upto
SELECT COALESCE((SELECT id FROM events
                 WHERE id BETWEEN ?1 AND ?2 AND ts >= strftime('%Y-%m-%dT%H:%M:%SZ', ?3, 'unixepoch')
                 ORDER BY id LIMIT 1) - 1, ?2);

-- Before the events up to ?1 go by age: each counted topic forgets those it
-- counted (ids up to ?2) and records the highest of its ids that go.
-- (NOT INDEXED: a range of rowids, never a walk of the topic index.)
-- name: event_age_forget
UPDATE topic_retention SET kept = kept - d.k, pruned_upto = max(topic_retention.pruned_upto, d.m)
FROM (SELECT topic, sum(id <= ?2) AS k, max(id) AS m FROM events NOT INDEXED WHERE id <= ?1 GROUP BY topic) AS d
WHERE topic_retention.topic = d.topic;

-- name: event_prune
DELETE FROM events WHERE id <= ?1;

-- Rows whose events all went by age: the age floor ?1 stands for them now.
-- (+pruned_upto: found through the few rows with nothing kept, never
-- through the many below the age floor.)
-- name: event_topics_forget
DELETE FROM topic_retention WHERE kept <= 0 AND +pruned_upto <= ?1;

-- Counts the events ?1 < id <= ?2 per topic; a new row starts at the age
-- floor ?3, which is what stood for the topic until now.
-- name: event_count_topics
INSERT INTO topic_retention (topic, kept, pruned_upto)
SELECT topic, count(*), ?3 FROM events NOT INDEXED WHERE id > ?1 AND id <= ?2 GROUP BY topic
ON CONFLICT (topic) DO UPDATE SET kept = kept + excluded.kept;

-- name: event_topic_fullest
SELECT topic, kept FROM topic_retention ORDER BY kept DESC LIMIT 1;

-- The id of the topic's oldest event but ?2, among ids up to ?3.
-- name: event_topic_nth
SELECT id FROM events WHERE topic = ?1 AND id <= ?3 ORDER BY id LIMIT 1 OFFSET ?2;

-- name: event_topic_prune
DELETE FROM events WHERE topic = ?1 AND id <= ?2;

-- ?3 counted events of topic ?1, up to id ?2, went.
-- name: event_topic_pruned
UPDATE topic_retention SET kept = kept - ?3, pruned_upto = max(pruned_upto, ?2) WHERE topic = ?1;

-- Counts lost track (a hand-made DELETE): the topic's counted events again.
-- name: event_topic_recount
UPDATE topic_retention
SET kept = (SELECT count(*) FROM events WHERE topic = ?1 AND id <= (SELECT v FROM meta WHERE k = 'counted_upto'))
WHERE topic = ?1;

-- Every id up to ?1 may be missing in any topic (an edge's gap).
-- name: event_set_pruned
UPDATE meta SET v = max(v, ?1) WHERE k = 'pruned_upto';

-- A row when events of topic ?1 up to id ?2 (the primary's floor for it,
-- sent on each of its entries) may be missing from an edge's copy: ?2 is
-- above the topic's newest event here (the copy got every one below that,
-- or recorded their gap), above its floor here, and above the gap of every
-- topic. No row, the common answer, needs no write. (In WHERE, the terms
-- are tried in order and the first false one ends it: most of the time one
-- index lookup.)
-- name: event_topic_unaccounted
SELECT 1
WHERE ?2 > COALESCE((SELECT max(id) FROM events WHERE topic = ?1), 0)
  AND ?2 > COALESCE((SELECT pruned_upto FROM topic_retention WHERE topic = ?1),
                    (SELECT v FROM meta WHERE k = 'aged_upto'))
  AND ?2 > (SELECT v FROM meta WHERE k = 'pruned_upto');

-- Events of topic ?1 up to id ?2 may be missing (an edge's copy: the
-- primary pruned them before relaying them: event_topic_unaccounted).
-- name: event_topic_gap
INSERT INTO topic_retention (topic, kept, pruned_upto)
VALUES (?1, 0, max(?2, (SELECT v FROM meta WHERE k = 'aged_upto')))
ON CONFLICT (topic) DO UPDATE SET pruned_upto = max(pruned_upto, ?2);

-- The members POST /api/publish reads, for a body that passed
-- db_json_text_ok; no row when ?1 is not a well-formed JSON object: the
-- WHERE is json_is_object's test (common.sql's object_test fragment; SQLite
-- 3.40's path lookups are not safe on every text json_valid accepts), which
-- SQLite runs before the columns, and the statement's JSON functions share
-- their parse of ?1 (a separate json_is_object parsed the body once more:
-- single publishes +8% without it, bench/HISTORY.md). Then the values of
-- topic and type, the JSON type and value of data (text unescaped, an
-- object as minified JSON; of a repeated key the first), then whether
-- topic, and type, are whole, as in json_field (?2: db_json_escapes_nul),
-- and 1: the event is an object. Topic and type need no json_type: a JSON
-- string comes back as SQL text, a number or boolean as a number, and an
-- object or array as text starting with { or [, which no valid name does.
-- (One json_each pass over the members costs more than these calls, and a
-- WHERE key IN (...) of three names builds a temporary b-tree on every
-- run.) These seven columns are event_publish_batch's too: one C function
-- checks an event of either form. Then which form the body has: the JSON
-- type of events, whether any of topic, type and data is there, and the
-- length of events.
-- name: event_publish_body
SELECT json_extract(?1, '$.topic'), json_extract(?1, '$.type'),
       json_type(?1, '$.data'), json_extract(?1, '$.data'),
       CASE WHEN ?2 THEN coalesce(json_quote(json_extract(?1, '$.topic')) = (?1 -> '$.topic'), 0) ELSE 1 END,
       CASE WHEN ?2 THEN coalesce(json_quote(json_extract(?1, '$.type')) = (?1 -> '$.type'), 0) ELSE 1 END,
       1,
       json_type(?1, '$.events'),
       json_type(?1, '$.topic') IS NOT NULL OR json_type(?1, '$.type') IS NOT NULL
           OR json_type(?1, '$.data') IS NOT NULL,
       json_array_length(?1, '$.events')
WHERE {{object_test}};

-- The events of a batch publish (?1: a body whose $.events is an array),
-- one row each in order, in event_publish_body's first seven columns, each
-- read from the element as that query reads the body. An element that is
-- no object has NULLs (json_extract would take a string element's text
-- for JSON).
-- name: event_publish_batch
SELECT CASE WHEN o THEN json_extract(v, '$.topic') END, CASE WHEN o THEN json_extract(v, '$.type') END,
       CASE WHEN o THEN json_type(v, '$.data') END, CASE WHEN o THEN json_extract(v, '$.data') END,
       CASE WHEN o AND ?2 THEN coalesce(json_quote(json_extract(v, '$.topic')) = (v -> '$.topic'), 0) ELSE 1 END,
       CASE WHEN o AND ?2 THEN coalesce(json_quote(json_extract(v, '$.type')) = (v -> '$.type'), 0) ELSE 1 END,
       o
FROM (SELECT e.value AS v, e.type = 'object' AS o FROM json_each(?1, '$.events') AS e);

-- A batch publish's events appended by one statement (?1: a body whose
-- $.events is an array, with no \u0000 escape; ?2: the time; ?3:
-- PULSE_MAX_EVENT_BYTES), in order, each stored as event_append stores one,
-- after the checks publish_row makes one by one: an object; topic and type
-- strings of [A-Za-z0-9_.:-], 1-128 and 1-64 long, the topic not the
-- reserved pulse.owners; data an object of at
-- most ?3 bytes. The checks are the connection's own functions
-- (db_migrate.c), which hand their value on or stop the statement with
-- SQLITE_CONSTRAINT_FUNCTION: store_append_events then appends nothing, and
-- the caller finds and answers the first refused element (the request's
-- unit is rolled back). Topic and type need no json_type: a string is SQL
-- text, and an object or array as text is no name; data is an object when
-- its JSON (->) starts with '{', stored as that minified JSON, the bytes
-- json() gives event_append. An element that is no object has NULLs
-- (json_extract would take a string element's text for JSON).
-- name: event_append_batch
INSERT INTO events (topic, type, ts, data)
SELECT pulse_event_name(CASE WHEN e.type = 'object' AND json_extract(e.value, '$.topic') IS NOT 'pulse.owners'
                             THEN json_extract(e.value, '$.topic') END, 128),
       pulse_event_name(CASE WHEN e.type = 'object' AND json_extract(e.value, '$.type') IS NOT 'reset'
                             THEN json_extract(e.value, '$.type') END, 64),
       ?2,
       pulse_event_data(CASE WHEN e.type = 'object' THEN e.value -> '$.data' END, ?3)
FROM json_each(?1, '$.events') AS e;

-- The events ?1..?2 just appended, for the bus and the answer.
-- name: event_range
SELECT id, topic, type FROM events WHERE id BETWEEN ?1 AND ?2 ORDER BY id;

-- name: event_poll_reply
SELECT json_object('events', json(?1), 'last_id', CAST(?2 AS INTEGER),
                   'reset', json(CASE WHEN ?3 IS NULL THEN 'false' ELSE 'true' END),
                   'reason', ?3);

-- Replication to edge hosts (fcgi/relay.c, fcgi/mirror.c): the relay ships
-- the stored columns, the mirror stores them under the same id, so an edge
-- builds byte-identical envelopes. The fixpoint test is json_is_object's,
-- for any JSON value: what comes back from Redis is outside input.

-- The sixth column is the topic's floor: the highest of its ids pruned here.
-- name: event_rows_after
SELECT e.id, e.topic, e.type, e.ts, e.data, COALESCE(r.pruned_upto, 0)
FROM events e LEFT JOIN topic_retention r ON r.topic = e.topic
WHERE e.id > ?1 ORDER BY e.id LIMIT ?2;

-- name: event_mirror
INSERT OR IGNORE INTO events (id, topic, type, ts, data)
SELECT ?1, ?2, ?3, ?4, json(?5)
WHERE length(?2) BETWEEN 1 AND 128 AND length(?3) BETWEEN 1 AND 64 AND length(?4) BETWEEN 1 AND 64
  AND json_valid(?5) AND json_valid(json(?5)) AND json(json(?5)) = json(?5);

-- Event ids never handed out twice (store/db_ids.h): the newest id, and
-- the row that puts the next id past ?1, the highest one handed out, in a
-- file that ends below it (a file put back), with the log marked pruned up
-- to that row. Its data says where the file ended.
-- name: db_ids_head
SELECT COALESCE(max(id), 0) FROM events;

-- name: db_ids_void
INSERT INTO events (id, topic, type, ts, data)
SELECT ?1 + 1, '', 'void', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
       json_object('after', (SELECT COALESCE(max(id), 0) FROM events))
WHERE ?1 > (SELECT COALESCE(max(id), 0) FROM events);

-- name: db_ids_void_floor
UPDATE meta SET v = max(v, ?1 + 1) WHERE k = 'pruned_upto';

-- The events this copy holds after ?2 (where the primary's file ended)
-- and below ?1 (the void row) are none of the primary's now: they leave
-- their topics' counts (those counted so far: store_prune), then the log;
-- the row is stored (?3 its time).
-- name: event_mirror_void_uncount
UPDATE topic_retention
SET kept = kept - (SELECT count(*) FROM events e
                   WHERE e.topic = topic_retention.topic AND e.id > ?2 AND e.id < ?1
                     AND e.id <= (SELECT v FROM meta WHERE k = 'counted_upto'))
WHERE topic IN (SELECT topic FROM events WHERE id > ?2 AND id < ?1);

-- name: event_mirror_void_drop
DELETE FROM events WHERE id > ?2 AND id < ?1;

-- name: event_mirror_void
INSERT OR IGNORE INTO events (id, topic, type, ts, data)
VALUES (?1, '', 'void', ?3, json_object('after', ?2));

-- name: event_mirror_voided
UPDATE meta SET v = max(v, ?1) WHERE k = 'voided_upto' AND ?2 IS NOT NULL;

-- The newest void row applied here (migration 0018).
-- name: event_voided_upto
SELECT v FROM meta WHERE k = 'voided_upto';

-- The void rows (db_ids.h): the newest one's id and the lowest end of a
-- file put back of all; no row when there is none.
-- name: event_newest_void
SELECT max(id), min(data ->> '$.after') FROM events WHERE topic = '' AND type = 'void' HAVING count(*) > 0;
