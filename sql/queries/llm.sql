-- The AI chat's upstream (fcgi/llm/llm_sse.c): one chunk of an
-- OpenAI-compatible streaming answer, run on the parser's own in-memory
-- connection, only on text json_is_object accepted (SQLite 3.40's path
-- lookups are not safe on every text json_valid accepts). The parts that
-- matter, each with its JSON type: the choice's content and finish_reason,
-- usage, and an error object's message (or the error itself).
-- name: llm_chunk
SELECT json_type(?1, '$.choices'),
       json_type(?1, '$.choices[0].delta.content'), json_extract(?1, '$.choices[0].delta.content'),
       json_type(?1, '$.choices[0].finish_reason'), json_extract(?1, '$.choices[0].finish_reason'),
       json_type(?1, '$.usage'), json_extract(?1, '$.usage'),
       json_type(?1, '$.error'), json_extract(?1, '$.error.message'), json_extract(?1, '$.error');

-- The request's body: ?1 the model, ?2 the messages (a JSON array the
-- generator built); NULL when ?2 is not one.
-- name: llm_request
SELECT CASE WHEN json_valid(?2) THEN
         CASE WHEN json_type(?2) = 'array' THEN
           json_object('model', ?1, 'stream', json('true'),
                       'stream_options', json_object('include_usage', json('true')), 'messages', json(?2))
         END
       END;
