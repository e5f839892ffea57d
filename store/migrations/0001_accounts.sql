-- Networks, users, sessions, codes, devices and clients.
-- Ids are UUID text; times are BIGINT microseconds since the Unix epoch (UTC).
-- No secret is stored in plain text: passwords are argon2id hashes, codes are keyed
-- hashes.

CREATE TABLE network (
    network_id    TEXT PRIMARY KEY,
    network_name  TEXT NOT NULL UNIQUE,
    admin_user_id TEXT NOT NULL,
    create_time   BIGINT NOT NULL
);

CREATE TABLE network_user (
    user_id         TEXT PRIMARY KEY,
    network_id      TEXT NOT NULL REFERENCES network (network_id),
    user_name       TEXT NOT NULL,
    user_auth       TEXT NOT NULL UNIQUE,
    auth_type       TEXT NOT NULL,
    password_hash   TEXT,
    sso_apple       BOOLEAN NOT NULL DEFAULT FALSE,
    sso_google      BOOLEAN NOT NULL DEFAULT FALSE,
    verified        BOOLEAN NOT NULL DEFAULT FALSE,
    product_updates BOOLEAN NOT NULL DEFAULT FALSE,
    create_time     BIGINT NOT NULL
);

CREATE INDEX network_user_network ON network_user (network_id);

CREATE TABLE auth_session (
    session_id        TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    network_id        TEXT NOT NULL,
    parent_session_id TEXT,
    create_time       BIGINT NOT NULL,
    revoke_time       BIGINT
);

CREATE INDEX auth_session_user ON auth_session (user_id);
CREATE INDEX auth_session_parent ON auth_session (parent_session_id);

-- One live verification code per user: a new code replaces the old one.
CREATE TABLE verify_code (
    user_id     TEXT PRIMARY KEY,
    code_hash   TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE reset_code (
    code_hash   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    used_time   BIGINT
);

CREATE INDEX reset_code_user ON reset_code (user_id);

CREATE TABLE auth_code (
    code_hash   TEXT PRIMARY KEY,
    network_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    uses_left   INTEGER NOT NULL
);

CREATE INDEX auth_code_network ON auth_code (network_id, expire_time);

CREATE TABLE device (
    device_id   TEXT PRIMARY KEY,
    network_id  TEXT NOT NULL,
    device_name TEXT NOT NULL,
    device_spec TEXT NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE INDEX device_network ON device (network_id);

CREATE TABLE network_client (
    client_id         TEXT PRIMARY KEY,
    network_id        TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    description       TEXT NOT NULL,
    device_spec       TEXT NOT NULL,
    derived_client_id TEXT,
    create_time       BIGINT NOT NULL,
    auth_time         BIGINT NOT NULL,
    active            BOOLEAN NOT NULL,
    remove_time       BIGINT,
    provide_mode      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX network_client_network ON network_client (network_id, create_time);

CREATE TABLE feedback (
    feedback_id TEXT PRIMARY KEY,
    network_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    body        TEXT NOT NULL
);
