-- nidan schema, PostgreSQL. Kept equivalent to migrations/sqlite (same tables, columns and
-- indexes; a test in nidan-store compares them). Secrets are never stored in plain text:
-- passwords as Argon2id PHC strings, TOTP seeds sealed with AEAD under a key outside the
-- database, recovery codes as HMAC-SHA-256 under a key outside the database, every bearer token
-- as SHA-256. Times are Unix seconds (UTC) as BIGINT; digests and sealed blobs are BYTEA.

CREATE TABLE users (
    id               TEXT    PRIMARY KEY,
    email            TEXT    NOT NULL UNIQUE,
    password_hash    TEXT,
    two_step_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    default_method   TEXT,
    failed_attempts  BIGINT  NOT NULL DEFAULT 0,
    last_failure_at  BIGINT,
    created_at       BIGINT  NOT NULL
);

-- last_used_step: the newest accepted TOTP step (-1 = none). Codes for this step or older are
-- replays; it is advanced only by a conditional UPDATE (RFC 6238 section 5.2).
CREATE TABLE totp_credentials (
    id             TEXT   PRIMARY KEY,
    user_id        TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret  BYTEA  NOT NULL,
    last_used_step BIGINT NOT NULL DEFAULT -1,
    confirmed_at   BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX totp_credentials_user ON totp_credentials(user_id);

CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE challenges (
    digest      BYTEA  PRIMARY KEY,
    user_id     TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    consumed_at BIGINT
);
CREATE INDEX challenges_expires ON challenges(expires_at);

CREATE TABLE sessions (
    id           TEXT   PRIMARY KEY,
    digest       BYTEA  NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ip           TEXT   NOT NULL,
    user_agent   TEXT   NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE devices (
    id           TEXT   PRIMARY KEY,
    digest       BYTEA  NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    last_ip      TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE activity (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT      NOT NULL,
    at         BIGINT    NOT NULL,
    kind       TEXT      NOT NULL,
    method     TEXT,
    result     TEXT      NOT NULL,
    ip         TEXT      NOT NULL,
    user_agent TEXT      NOT NULL,
    detail     TEXT
);
CREATE INDEX activity_user ON activity(user_id, id);

CREATE TABLE api_keys (
    id         TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    digest     BYTEA  NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
-- A name identifies one active key; a revoked key's name may be used again.
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at IS NULL;
