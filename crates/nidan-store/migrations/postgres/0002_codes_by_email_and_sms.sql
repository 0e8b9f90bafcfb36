-- Codes by email and SMS, security notices, and the account's language.

ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';

ALTER TABLE challenges ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
-- Set once the "right password, no second step" notice was queued for it.
ALTER TABLE challenges ADD COLUMN reported_at BIGINT;

-- Email addresses and phone numbers that receive codes; at most one pending and one confirmed
-- per account and channel (kept so by the store's transactions).
CREATE TABLE oob_methods (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel      TEXT   NOT NULL,
    destination  TEXT   NOT NULL,
    confirmed_at BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX oob_methods_user ON oob_methods(user_id);

-- Sent codes: only a keyed hash of each. binding_kind is 'challenge' (binding = challenge token
-- digest, hex), 'enrolment' (binding = method id) or 'session' (binding = session id).
CREATE TABLE oob_codes (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    binding_kind TEXT   NOT NULL,
    binding      TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    destination  TEXT   NOT NULL,
    digest       BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    used_at      BIGINT
);
CREATE INDEX oob_codes_binding ON oob_codes(binding_kind, binding);
CREATE INDEX oob_codes_user_sent ON oob_codes(user_id, created_at);
CREATE INDEX oob_codes_destination_sent ON oob_codes(destination, created_at);

-- The durable queue of security notices: a restart or a mail-server outage loses none.
CREATE TABLE notices (
    id              BIGSERIAL PRIMARY KEY,
    user_id         TEXT      NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            TEXT      NOT NULL,
    at              BIGINT    NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    country         TEXT,
    attempts        BIGINT    NOT NULL DEFAULT 0,
    next_attempt_at BIGINT    NOT NULL,
    sent_at         BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX notices_due ON notices(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
