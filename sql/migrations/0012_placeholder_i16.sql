-- PLACEHOLDER, not to be merged: schema version 12 belongs to another
-- branch of issue 16 (i16-payos). It stands here only so that 0013 builds
-- on this branch (migrations are numbered 1..N without gaps); the merge
-- takes the other branch's 0012 instead of this file.
SELECT 1;
