-- uuid: 16-byte BLOB and created_at: RFC 3339 TEXT, as sqlx encodes them for SQLite.
CREATE TABLE users (
    uuid            BLOB PRIMARY KEY NOT NULL,
    display_name    TEXT NOT NULL,
    handle          TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    cognito_user_id TEXT,
    bio             TEXT,
    created_at      TEXT NOT NULL
);
