-- Schema version 7: retention per topic and by age, and bounded presence.
--
-- PULSE_RETENTION counts the events of each topic, so a flood on one topic
-- can no longer push another topic's history out; PULSE_RETENTION_S prunes
-- every event older than it. What was pruned is kept per topic, so a client
-- resuming from N gets a reset exactly when an event of ITS topics after N
-- is gone:
--   meta pruned_upto   every id up to it may be missing, whatever its topic
--                      (an edge's gap in its copy; before this version, the
--                      whole log was pruned as one);
--   meta aged_upto     every id up to it was pruned by age; it stands for
--                      the topics that have no row below;
--   topic_retention    per topic: kept, its events counted so far (ids up to
--                      meta counted_upto) that are still in the log, and
--                      pruned_upto, the highest id of the topic ever pruned.
-- Counting happens in store_prune, a batch at a time, so an append costs no
-- extra write. A row whose events all aged out goes (aged_upto covers it),
-- so the table holds about one row per topic that still has events.
CREATE TABLE topic_retention (
    topic       TEXT PRIMARY KEY,
    kept        INTEGER NOT NULL,
    pruned_upto INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX topic_retention_kept ON topic_retention (kept);
CREATE INDEX topic_retention_pruned ON topic_retention (pruned_upto);

-- Until now the whole log was pruned as one prefix, which pruned_upto
-- already records for every topic: the existing events are counted here
-- once, and nothing is known to be missing per topic.
INSERT INTO meta (k, v) VALUES ('aged_upto', 0);
INSERT INTO meta (k, v) VALUES ('counted_upto', COALESCE((SELECT max(id) FROM events), 0));
INSERT INTO topic_retention (topic, kept, pruned_upto)
SELECT topic, count(*), 0 FROM events GROUP BY topic;

-- Presence requests (join and leave) counted per viewer and per client
-- address over the last second, inside the request's write transaction, so
-- the limit holds across every process and instance sharing the database.
-- A refused request rolls back, so only admitted ones are recorded.
CREATE TABLE presence_hits (
    bucket TEXT NOT NULL,            -- 'v:<viewer id>' or 'a:<client address>'
    at_ms  INTEGER NOT NULL
);
CREATE INDEX presence_hits_bucket ON presence_hits (bucket, at_ms);
CREATE INDEX presence_hits_at ON presence_hits (at_ms);

-- The address a viewer joined from: guests (who name themselves) are
-- bounded per address and room.
ALTER TABLE live_viewers ADD COLUMN addr TEXT NOT NULL DEFAULT '';
CREATE INDEX live_viewers_addr ON live_viewers (room_id, addr);
