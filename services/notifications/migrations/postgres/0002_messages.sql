CREATE TABLE messages (
    uuid                uuid        PRIMARY KEY,
    message_group_uuid  uuid        NOT NULL,
    sender_user_uuid    uuid        NOT NULL,
    receiver_user_uuid  uuid        NOT NULL,
    message             text        NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX messages_group_created ON messages (message_group_uuid, created_at);
CREATE INDEX messages_sender ON messages (sender_user_uuid);
CREATE INDEX messages_receiver ON messages (receiver_user_uuid);
