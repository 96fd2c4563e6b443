-- PLACEHOLDER, not to be merged: schema version 11 belongs to another
-- branch of issue 16. It stands here only so that 0012 builds on this
-- branch (migrations are numbered 1..N without gaps); the merge takes the
-- other branch's 0011 instead of this file.
SELECT 1;
