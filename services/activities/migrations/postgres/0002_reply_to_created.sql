-- Home reads top-level activities (reply_to_activity_uuid IS NULL) newest
-- first, ties by uuid: with the order in the index, the rows come out of it
-- in order instead of through a sort (SQLite built a temporary B-tree for
-- every home request).
DROP INDEX activities_reply_to;
CREATE INDEX activities_reply_to_created ON activities (reply_to_activity_uuid, created_at DESC, uuid);
