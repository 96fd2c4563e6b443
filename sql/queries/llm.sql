-- The AI chat's upstream (fcgi/llm/llm_sse.c): one chunk of an
-- OpenAI-compatible streaming answer, run on the parser's own in-memory
-- connection. The parts that matter, each with its JSON type: the choice's
-- content and finish_reason, usage, and an error object's message (or the
-- error itself). No row when ?1 is not a well-formed JSON object: the WHERE
-- is json_is_object's test (common.sql's object_test fragment; SQLite
-- 3.40's path lookups are not safe on every text json_valid accepts), coded
-- before the columns (EXPLAIN: the WHERE's test jumps past every lookup),
-- in the same statement so that SQLite parses the chunk once for the test
-- and the ten lookups (a statement's JSON functions share their parses of
-- one text): 46,000 -> 38,500 instructions a chunk against two statements.
-- name: llm_chunk
SELECT json_type(?1, '$.choices'),
       json_type(?1, '$.choices[0].delta.content'), json_extract(?1, '$.choices[0].delta.content'),
       json_type(?1, '$.choices[0].finish_reason'), json_extract(?1, '$.choices[0].finish_reason'),
       json_type(?1, '$.usage'), json_extract(?1, '$.usage'),
       json_type(?1, '$.error'), json_extract(?1, '$.error.message'), json_extract(?1, '$.error')
WHERE {{object_test}};

-- The request's body: ?1 the model, ?2 the messages (a JSON array the
-- generator built); NULL when ?2 is not one.
-- name: llm_request
SELECT CASE WHEN json_valid(?2) THEN
         CASE WHEN json_type(?2) = 'array' THEN
           json_object('model', ?1, 'stream', json('true'),
                       'stream_options', json_object('include_usage', json('true')), 'messages', json(?2))
         END
       END;
