CREATE TABLE users (
    uuid            uuid        PRIMARY KEY,
    display_name    text        NOT NULL,
    handle          text        NOT NULL UNIQUE,
    email           text        NOT NULL,
    cognito_user_id text,
    bio             text,
    created_at      timestamptz NOT NULL
);
