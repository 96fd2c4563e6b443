-- Schema version 19: the answers a primary gave to writes its edges
-- forwarded, by the edge's Pulse-Forwarded-At and -Id, for a few minutes.
-- libcurl sends a request again on a new connection when a kept one dies
-- before any byte of the answer; a primary that had applied it answers the
-- copy with the first answer instead of applying it twice
-- (request/forward.h). Keyed by time first: each answer is appended at
-- the b-tree's end, and the old ones go as one range.
CREATE TABLE forward_answers (
    at INTEGER NOT NULL,
    id TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (at, id)
) WITHOUT ROWID;
