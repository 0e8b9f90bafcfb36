-- Security keys and passkeys (WebAuthn). A key is its public key and signature counter, as
-- webauthn-rs keeps them (`credential`, JSON): nothing in it signs anything. `counter` is the
-- newest counter seen; a use is accepted only by a conditional UPDATE that raises it (or keeps
-- it at 0, for keys that never count), so one assertion signs in once.
CREATE TABLE webauthn_credentials (
    id            TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    passkey       INTEGER NOT NULL,
    credential    TEXT    NOT NULL,
    counter       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);

-- A registration or sign-in ceremony in progress: the challenge and what it allows, as
-- webauthn-rs's state (JSON). One per binding (`register:<user>`, `sign-in:<challenge digest>`,
-- `passkey:<digest of the browser's ceremony token>`: a passkey sign-in, whose user is not known
-- until the passkey answers, so `user_id` is NULL);
-- taken (deleted) by the one statement that finishes it, whatever the answer, so a challenge is
-- used once on any number of nodes.
CREATE TABLE webauthn_ceremonies (
    binding    TEXT    PRIMARY KEY,
    user_id    TEXT    REFERENCES users(id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
