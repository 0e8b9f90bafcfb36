-- Password reset links: only the SHA-256 digest of each link's token is kept. A link works once,
-- for 30 minutes, and only the newest of an account's links works.
CREATE TABLE password_resets (
    digest     BYTEA   PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    ip         TEXT    NOT NULL
);
CREATE INDEX password_resets_user ON password_resets(user_id, created_at);

-- A notice may go to an address of its own: the old address after the sign-in email changed, or
-- the address of an account that was deleted (then it belongs to no account any more).
ALTER TABLE notices ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE notices ADD COLUMN email TEXT;
ALTER TABLE notices ADD COLUMN locale TEXT;
ALTER TABLE notices ADD CONSTRAINT notices_addressed
    CHECK (user_id IS NOT NULL OR (email IS NOT NULL AND locale IS NOT NULL));

-- Support may disable an account (it cannot sign in or be verified; its sessions end), and
-- two-step may be off until a time, when it turns back on by itself.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN two_step_off_until BIGINT;
CREATE INDEX users_two_step_off_until ON users(two_step_off_until) WHERE two_step_off_until IS NOT NULL;

-- Groups an account belongs to (access rules of the apps behind nidan name them).
CREATE TABLE user_groups (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
