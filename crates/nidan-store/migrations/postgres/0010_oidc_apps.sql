-- The apps a user signed in to with nidan (OpenID Connect): what each was allowed (scopes), when,
-- and when it last signed the user in. An app that is not first-party asks again only for more
-- than it was allowed; removing the row (the security page) revokes its tokens too.
CREATE TABLE oidc_apps (
    user_id      TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    scope        TEXT    NOT NULL,
    consented_at BIGINT,
    last_used_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
