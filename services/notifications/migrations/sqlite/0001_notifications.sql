CREATE TABLE notifications (
    uuid                BLOB PRIMARY KEY NOT NULL,
    recipient_user_uuid BLOB NOT NULL,
    actor_user_uuid     BLOB NOT NULL,
    activity_uuid       BLOB NOT NULL,
    kind                TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    read_at             TEXT
);
CREATE INDEX notifications_recipient_created ON notifications (recipient_user_uuid, created_at DESC);
