-- An edge's forwarded writes, as the primary answered them (forward.c).

-- name: forward_answer_get
SELECT status, content_type, headers, body FROM forward_answers WHERE at = ?1 AND id = ?2;

-- name: forward_answer_put
INSERT INTO forward_answers (at, id, status, content_type, headers, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6);

-- Those older than any copy libcurl could still send (the -At window).
-- name: forward_answers_prune
DELETE FROM forward_answers WHERE at < ?1;
