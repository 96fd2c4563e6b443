-- Helpers shared by every handler: body checks and error objects.

-- A well-formed JSON object. SQLite 3.40's json_valid() accepts some
-- malformed documents (an object in a key's place) on which path lookups
-- then crash; re-serialising such a document is not a fixpoint, so the
-- second test catches them. CASE keeps json() away from invalid input.
-- A text that is its own serialisation (minified JSON, what JSON.stringify
-- and every upstream send) is a fixpoint already: json(?1) = ?1 implies
-- json(json(?1)) = json(?1), so that test first accepts exactly what the
-- full one does, with one parse and one serialisation instead of two and
-- four (48,000 -> 19,000 instructions on an upstream's chunk).
-- (Serialising the body once, in a subquery, saved 8% of a publish's
-- instructions, but a 10-minute fuzz run of that form hit a heap overflow
-- inside SQLite 3.40's JSON code that no replay reproduces: not shipped.)
-- The test is a fragment: llm_chunk and event_publish_body run it as
-- their WHERE, sharing its parse with their path lookups.
-- fragment: object_test
CASE WHEN json_valid(?1) THEN
       CASE WHEN json(?1) = ?1 THEN json_type(?1) = 'object'
            WHEN json_valid(json(?1)) THEN json(json(?1)) = json(?1) AND json_type(?1) = 'object'
            ELSE 0 END
     ELSE 0 END

-- name: json_is_object
SELECT {{object_test}};

-- name: json_error
SELECT json_object('error', json_object('code', ?1, 'message', ?2));

-- Both jwt queries run only on text db_json_object() accepted.
-- name: jwt_claims
SELECT 1,
       json_type(?1, '$.sub'), json_extract(?1, '$.sub'),
       json_type(?1, '$.name'), json_extract(?1, '$.name'),
       json_type(?1, '$.role'), json_extract(?1, '$.role'),
       json_type(?1, '$.exp'), json_extract(?1, '$.exp'),
       json_type(?1, '$.nbf'), json_extract(?1, '$.nbf'),
       json_type(?1, '$.picture'), json_extract(?1, '$.picture');

-- name: jwt_header
SELECT 1, json_extract(?1, '$.alg');

-- name: health_reply
SELECT json_object('status', ?1, 'db', ?2, 'redis', ?3, 'mode', ?4);

-- GET /api/health proves the database takes writes with a real one, which
-- its transaction commits to the file (a full disk or a deleted file fails
-- it): a counter of the checks.
-- name: health_probe
INSERT INTO meta (k, v) VALUES ('health_checks', 1)
ON CONFLICT (k) DO UPDATE SET v = v + 1;

-- One member of a JSON document: its type ('' when absent), value, and
-- whether a string value is whole (?3: the document holds a \u0000 escape,
-- where SQLite 3.40 would end the string; see db_json_escapes_nul).
-- name: json_field
SELECT COALESCE(json_type(?1, ?2), ''), json_extract(?1, ?2),
       CASE WHEN ?3 AND json_type(?1, ?2) = 'text'
            THEN coalesce(json_quote(json_extract(?1, ?2)) = (?1 -> ?2), 0) ELSE 1 END;

-- Run with sqlite3_exec when a process opens the database (fcgi/db.c), not
-- prepared: WAL so that readers never wait for the writer; NORMAL syncs at
-- checkpoints, not at every commit (a commit survives a crash of the
-- process, not of the machine).
-- name: db_open_pragmas
PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;

-- For the connection of a process that commits many times a second
-- (pulse-batch: db_checkpoint_in_background), run as db_open_pragmas is: a
-- page cache of 16 MiB, not SQLite's 2 MiB. A commit of 1,000 chat answers
-- touches about 10 MB (their rows, the leaves of events_topic_id, the new
-- events); with 2 MiB every commit read those pages back from the WAL and
-- spilled dirty ones into it before the commit (bench/chat_gen_cpu 1000x100:
-- 366,000 pwrite and 213,000 pread calls -> 229,000 and 44,000). And the
-- journals of its savepoints (a batch's units, each of which may fail
-- alone) in memory: on disk each commit past 64 KiB of them created,
-- wrote, and unlinked a file in /var/tmp.
-- name: db_writer_pragmas
PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;

-- The schema version the migrations reached (each stamps its own).
-- name: db_user_version
PRAGMA user_version;

-- Transactions (fcgi/db.c), prepared once like every query: compiling them
-- on each request cost more than running them.
-- name: tx_begin
BEGIN;

-- name: tx_begin_immediate
BEGIN IMMEDIATE;

-- name: tx_commit
COMMIT;

-- name: tx_rollback
ROLLBACK;

-- A request inside a group commit (fcgi/batch.c); units never nest.
-- name: tx_savepoint
SAVEPOINT unit;

-- name: tx_release
RELEASE unit;

-- name: tx_rollback_to
ROLLBACK TO unit;

-- The data of a topic.owner event (migration 10): ?1 topic, ?2 owner,
-- ?3 hex SHA-256 of its stream token or NULL.
-- name: topic_owner_event
SELECT json_object('topic', ?1, 'ownerId', ?2, 'tokenSha256', ?3);

-- ---- the facts kept in Redis for edges (fcgi/stream/owners.c)

-- A page of the facts, in topic order, after topic ?1 ('' from the first).
-- name: topic_owner_page
SELECT topic, owner_id, token_sha256 FROM topic_owners WHERE topic > ?1 ORDER BY topic LIMIT ?2;

-- The facts logged after event ?1 (their topics), in id order.
-- name: topic_owner_logged_after
SELECT id, json_extract(data, '$.topic') FROM events
WHERE topic = 'pulse.owners' AND type = 'topic.owner' AND id > ?1 AND json_type(data, '$.topic') = 'text'
ORDER BY id LIMIT ?2;

-- A fact an edge read from Redis, filed as the log's trigger files one:
-- the first fact about a topic stands.
-- name: topic_owner_put
INSERT INTO topic_owners (topic, owner_id, token_sha256) VALUES (?1, ?2, ?3) ON CONFLICT (topic) DO NOTHING;

-- name: topic_owner_get
SELECT owner_id, token_sha256 FROM topic_owners WHERE topic = ?1;
