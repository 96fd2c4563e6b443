-- Schema version 18: the newest void row (store/db_ids.h) an edge has
-- applied, so that the primary's "v" on every relayed entry after one is
-- applied once, by an edge that never got the row itself too (trimmed
-- from Redis while it was away, or Redis restarted).
INSERT INTO meta (k, v) VALUES ('voided_upto', 0);
