-- Schema version 19: the answers a primary gave to writes its edges
-- forwarded, by the edge's Pulse-Forwarded-Id, for a few minutes. libcurl
-- sends a request again on a new connection when a kept one dies before
-- any byte of the answer; a primary that had applied it answers the copy
-- with the first answer instead of applying it twice (request/forward.h).
CREATE TABLE forward_answers (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX forward_answers_at ON forward_answers (at);
