-- Helpers shared by every handler: body checks and error objects.

-- name: json_is_object
SELECT json_valid(?1) AND json_type(?1) = 'object';

-- name: json_error
SELECT json_object('error', json_object('code', ?1, 'message', ?2));

-- name: jwt_claims
SELECT json_valid(?1) AND json_type(?1) = 'object',
       json_type(?1, '$.sub'), json_extract(?1, '$.sub'),
       json_type(?1, '$.name'), json_extract(?1, '$.name'),
       json_type(?1, '$.role'), json_extract(?1, '$.role'),
       json_type(?1, '$.exp'), json_extract(?1, '$.exp');

-- name: jwt_header
SELECT json_valid(?1) AND json_type(?1) = 'object', json_extract(?1, '$.alg');

-- name: health_reply
SELECT json_object('status', ?1, 'db', ?2, 'redis', ?3, 'mode', ?4);

-- One member of a JSON document: its type ('' when absent) and value.
-- name: json_field
SELECT COALESCE(json_type(?1, ?2), ''), json_extract(?1, ?2);
