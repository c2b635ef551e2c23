-- Search compares this column: the message case-folded by the service, by
-- Unicode's rules, so both databases find the same activities (SQLite's
-- LOWER folds ASCII letters alone, PostgreSQL's follows the database's
-- locale). NULL until written: the service fills it for older rows at start.
ALTER TABLE activities ADD COLUMN message_folded TEXT;
-- The rows still to fold, for that start-up check: empty once they are.
CREATE INDEX activities_unfolded ON activities (uuid) WHERE message_folded IS NULL;
