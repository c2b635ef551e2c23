CREATE TABLE activities (
    uuid                   uuid        PRIMARY KEY,
    user_uuid              uuid        NOT NULL,
    message                text        NOT NULL,
    replies_count          bigint      NOT NULL DEFAULT 0,
    reposts_count          bigint      NOT NULL DEFAULT 0,
    likes_count            bigint      NOT NULL DEFAULT 0,
    reply_to_activity_uuid uuid        REFERENCES activities (uuid),
    expires_at             timestamptz,
    created_at             timestamptz NOT NULL
);
CREATE INDEX activities_created ON activities (created_at DESC);
CREATE INDEX activities_user_created ON activities (user_uuid, created_at DESC);
CREATE INDEX activities_reply_to ON activities (reply_to_activity_uuid);
