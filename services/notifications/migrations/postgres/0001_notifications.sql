CREATE TABLE notifications (
    uuid                uuid        PRIMARY KEY,
    recipient_user_uuid uuid        NOT NULL,
    actor_user_uuid     uuid        NOT NULL,
    activity_uuid       uuid        NOT NULL,
    kind                text        NOT NULL,
    created_at          timestamptz NOT NULL,
    read_at             timestamptz
);
CREATE INDEX notifications_recipient_created ON notifications (recipient_user_uuid, created_at DESC);
