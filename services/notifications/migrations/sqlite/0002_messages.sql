CREATE TABLE messages (
    uuid                BLOB PRIMARY KEY NOT NULL,
    message_group_uuid  BLOB NOT NULL,
    sender_user_uuid    BLOB NOT NULL,
    receiver_user_uuid  BLOB NOT NULL,
    message             TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX messages_group_created ON messages (message_group_uuid, created_at);
CREATE INDEX messages_sender ON messages (sender_user_uuid);
CREATE INDEX messages_receiver ON messages (receiver_user_uuid);
