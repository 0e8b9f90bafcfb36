-- Password reset links: only the SHA-256 digest of each link's token is kept. A link works once,
-- for 30 minutes, and only the newest of an account's links works.
CREATE TABLE password_resets (
    digest     BLOB    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    ip         TEXT    NOT NULL
);
CREATE INDEX password_resets_user ON password_resets(user_id, created_at);

-- A notice may go to an address of its own: the old address after the sign-in email changed, or
-- the address of an account that was deleted (then it belongs to no account any more). SQLite
-- cannot drop NOT NULL from a column, so the queue is copied into a table of the new shape.
CREATE TABLE notices_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT    REFERENCES users(id) ON DELETE CASCADE,
    email           TEXT,
    locale          TEXT,
    kind            TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    country         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT,
    CHECK (user_id IS NOT NULL OR (email IS NOT NULL AND locale IS NOT NULL))
);
INSERT INTO notices_new (id, user_id, kind, at, ip, user_agent, country, attempts, next_attempt_at, sent_at, failed_at, last_error)
    SELECT id, user_id, kind, at, ip, user_agent, country, attempts, next_attempt_at, sent_at, failed_at, last_error FROM notices;
DROP TABLE notices;
ALTER TABLE notices_new RENAME TO notices;
CREATE INDEX notices_due ON notices(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Support may disable an account (it cannot sign in or be verified; its sessions end), and
-- two-step may be off until a time, when it turns back on by itself.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN two_step_off_until INTEGER;
CREATE INDEX users_two_step_off_until ON users(two_step_off_until) WHERE two_step_off_until IS NOT NULL;

-- Groups an account belongs to (access rules of the apps behind nidan name them).
CREATE TABLE user_groups (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
