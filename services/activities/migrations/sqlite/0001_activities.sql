CREATE TABLE activities (
    uuid                   BLOB    PRIMARY KEY NOT NULL,
    user_uuid              BLOB    NOT NULL,
    message                TEXT    NOT NULL,
    replies_count          INTEGER NOT NULL DEFAULT 0,
    reposts_count          INTEGER NOT NULL DEFAULT 0,
    likes_count            INTEGER NOT NULL DEFAULT 0,
    reply_to_activity_uuid BLOB    REFERENCES activities (uuid),
    expires_at             TEXT,
    created_at             TEXT    NOT NULL
);
CREATE INDEX activities_created ON activities (created_at DESC);
CREATE INDEX activities_user_created ON activities (user_uuid, created_at DESC);
CREATE INDEX activities_reply_to ON activities (reply_to_activity_uuid);
