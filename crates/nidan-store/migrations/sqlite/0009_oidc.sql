-- The OpenID Connect provider. Secrets are kept only as SHA-256 digests (client secrets, codes,
-- tokens); signing keys only sealed under the key file.
CREATE TABLE oidc_clients (
    id            TEXT    PRIMARY KEY,
    secret_digest BLOB,
    redirect_uris TEXT    NOT NULL,
    id_token_alg  TEXT    NOT NULL DEFAULT 'RS256',
    first_party   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE oidc_keys (
    kid        TEXT    PRIMARY KEY,
    alg        TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    public_jwk TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

-- An authorization code works once, for 60 seconds, for its client and redirect URI.
CREATE TABLE oidc_codes (
    digest         BLOB    PRIMARY KEY,
    client_id      TEXT    NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id        TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scope          TEXT    NOT NULL,
    auth_time      INTEGER NOT NULL,
    second_step    TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

-- Access and refresh tokens; a family is every token descending from one code.
CREATE TABLE oidc_tokens (
    digest      BLOB    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    client_id   TEXT    NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope       TEXT    NOT NULL,
    family      TEXT    NOT NULL,
    auth_time   INTEGER NOT NULL,
    second_step TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX oidc_tokens_family ON oidc_tokens(family);
CREATE INDEX oidc_tokens_user ON oidc_tokens(user_id);
