//! The OpenID Connect provider's storage: clients, signing keys, authorization codes and tokens.
//!
//! Codes and refresh tokens are one-time: `used_at` is set by one conditional update
//! (`… AND used_at IS NULL AND expires_at > now`), so of two redemptions, on one node or many,
//! exactly one wins. The loser finds the row used and revokes what it issued: every token of the
//! code's family (RFC 6749 §4.1.2; RFC 9700 §4.14.2 for refresh tokens).

use nidan_domain::SecondStep;
use nidan_service::UserId;
use nidan_service::ports::{
    AuthCode, OidcApp, OidcClient, OidcToken, Redeemed, SigningKey, TokenKind, code_family,
};

use crate::db::{Conn, DbError, DbRow, Step};
use crate::{args, sql, statements};

fn client(r: &dyn DbRow) -> Result<OidcClient, DbError> {
    let uris: String = r.get("redirect_uris")?;
    Ok(OidcClient {
        id: r.get("id")?,
        secret_digest: r.get("secret_digest")?,
        redirect_uris: uris.lines().map(str::to_owned).collect(),
        first_party: r.get("first_party")?,
        id_token_alg: r.get("id_token_alg")?,
        created_at: r.get("created_at")?,
    })
}

fn key(r: &dyn DbRow) -> Result<SigningKey, DbError> {
    Ok(SigningKey {
        kid: r.get("kid")?,
        alg: r.get("alg")?,
        sealed: r.get("sealed")?,
        public_jwk: r.get("public_jwk")?,
        created_at: r.get("created_at")?,
        retired_at: r.get("retired_at")?,
    })
}

fn code(r: &dyn DbRow) -> Result<AuthCode, DbError> {
    Ok(AuthCode {
        digest: r.get("digest")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        redirect_uri: r.get("redirect_uri")?,
        code_challenge: r.get("code_challenge")?,
        nonce: r.get("nonce")?,
        scope: r.get("scope")?,
        auth_time: r.get("auth_time")?,
        second_step: r.get("second_step")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

fn token(r: &dyn DbRow) -> Result<OidcToken, DbError> {
    Ok(OidcToken {
        digest: r.get("digest")?,
        kind: r.get("kind")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        scope: r.get("scope")?,
        family: r.get("family")?,
        auth_time: r.get("auth_time")?,
        second_step: r.get("second_step")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

fn app(r: &dyn DbRow) -> Result<OidcApp, DbError> {
    Ok(OidcApp {
        client_id: r.get("client_id")?,
        scope: r.get("scope")?,
        consented_at: r.get("consented_at")?,
        last_used_at: r.get("last_used_at")?,
    })
}

fn kind_str(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

statements! {
    create_client(c: &OidcClient) -> () =
        done "INSERT INTO oidc_clients (id, secret_digest, redirect_uris, first_party, id_token_alg, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
        [c.id.as_str(), c.secret_digest.as_ref(), &c.redirect_uris.join("\n"), c.first_party, c.id_token_alg.as_str(), c.created_at];

    client_by_id(id: &str) -> Option<OidcClient> =
        row(client) "SELECT * FROM oidc_clients WHERE id = $1" [id];

    list_clients() -> Vec<OidcClient> =
        rows(client) "SELECT * FROM oidc_clients ORDER BY id" [];

    delete_client(id: &str) -> bool =
        one "DELETE FROM oidc_clients WHERE id = $1" [id];

    signing_keys() -> Vec<SigningKey> =
        rows(key) "SELECT * FROM oidc_keys ORDER BY created_at DESC, kid" [];

    create_code(c: &AuthCode) -> () =
        done "INSERT INTO oidc_codes (digest, client_id, user_id, redirect_uri, code_challenge, nonce, scope, auth_time, second_step, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        [&c.digest, c.client_id.as_str(), c.user_id.as_str(), &c.redirect_uri, &c.code_challenge, &c.nonce, &c.scope, c.auth_time, c.second_step.map(SecondStep::as_str), c.created_at, c.expires_at];

    token_by_digest(digest: &[u8; 32]) -> Option<OidcToken> =
        row(token) "SELECT * FROM oidc_tokens WHERE digest = $1" [digest];

    revoke_family(family: &str) -> () =
        done "DELETE FROM oidc_tokens WHERE family = $1" [family];

    /// The allowed scope changes only with a new consent (or while none was ever given).
    record_app(user: &UserId, a: &OidcApp) -> () =
        done "INSERT INTO oidc_apps (user_id, client_id, scope, consented_at, last_used_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, client_id) DO UPDATE SET scope = CASE WHEN excluded.consented_at IS NOT NULL OR oidc_apps.consented_at IS NULL THEN excluded.scope ELSE oidc_apps.scope END, consented_at = COALESCE(excluded.consented_at, oidc_apps.consented_at), last_used_at = excluded.last_used_at"
        [user.as_str(), a.client_id.as_str(), &a.scope, a.consented_at, a.last_used_at];

    app_of(user: &UserId, client: &str) -> Option<OidcApp> =
        row(app) "SELECT * FROM oidc_apps WHERE user_id = $1 AND client_id = $2"
        [user.as_str(), client];

    apps_of(user: &UserId) -> Vec<OidcApp> =
        rows(app) "SELECT * FROM oidc_apps WHERE user_id = $1 ORDER BY last_used_at DESC, client_id"
        [user.as_str()];
}

/// Forgets an app of a user with every token it holds for them.
pub(crate) async fn remove_app<C: Conn>(
    c: &mut C,
    user: &UserId,
    client: &str,
) -> Result<bool, DbError> {
    let gone = c
        .exec(
            sql!("DELETE FROM oidc_apps WHERE user_id = $1 AND client_id = $2"),
            args![user.as_str(), client],
        )
        .await?;
    c.exec(
        sql!("DELETE FROM oidc_tokens WHERE user_id = $1 AND client_id = $2"),
        args![user.as_str(), client],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM oidc_codes WHERE user_id = $1 AND client_id = $2"),
        args![user.as_str(), client],
    )
    .await?;
    Ok(gone == 1)
}

/// Stores keys sealed again.
pub(crate) async fn reseal_keys<C: Conn>(
    c: &mut C,
    rows: &[(String, Vec<u8>)],
) -> Result<(), DbError> {
    for (kid, sealed) in rows {
        c.exec(
            sql!("UPDATE oidc_keys SET sealed = $1 WHERE kid = $2"),
            args![sealed, kid.as_str()],
        )
        .await?;
    }
    Ok(())
}

/// Stores new keys and retires the ones in use.
pub(crate) async fn put_signing_keys<C: Conn>(
    c: &mut C,
    keys: &[SigningKey],
    now: i64,
) -> Result<(), DbError> {
    c.lock_key("oidc-signing-keys").await?;
    c.exec(
        sql!("UPDATE oidc_keys SET retired_at = $1 WHERE retired_at IS NULL"),
        args![now],
    )
    .await?;
    insert_keys(c, keys).await
}

async fn insert_keys<C: Conn>(c: &mut C, keys: &[SigningKey]) -> Result<(), DbError> {
    for k in keys {
        c.exec(
            sql!("INSERT INTO oidc_keys (kid, alg, sealed, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)"),
            args![k.kid.as_str(), k.alg.as_str(), &k.sealed, &k.public_jwk, k.created_at, k.retired_at],
        )
        .await?;
    }
    Ok(())
}

/// Stores the first keys, unless some are in use already (two nodes, or a request and the start,
/// making them at once: one set wins, the other is dropped). True when these were stored.
pub(crate) async fn first_signing_keys<C: Conn>(
    c: &mut C,
    keys: &[SigningKey],
) -> Result<bool, DbError> {
    c.lock_key("oidc-signing-keys").await?;
    let in_use = c
        .row(
            sql!("SELECT 1 FROM oidc_keys WHERE retired_at IS NULL LIMIT 1"),
            args![],
            &|_| Ok(()),
        )
        .await?;
    if in_use.is_some() {
        return Ok(false);
    }
    insert_keys(c, keys).await?;
    Ok(true)
}

/// Stores tokens.
pub(crate) async fn insert_tokens<C: Conn>(c: &mut C, tokens: &[OidcToken]) -> Result<(), DbError> {
    for t in tokens {
        c.exec(
            sql!("INSERT INTO oidc_tokens (digest, kind, client_id, user_id, scope, family, auth_time, second_step, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
            args![&t.digest, kind_str(t.kind), t.client_id.as_str(), t.user_id.as_str(), &t.scope, &t.family, t.auth_time, t.second_step.map(SecondStep::as_str), t.created_at, t.expires_at],
        )
        .await?;
    }
    Ok(())
}

/// Uses a code once (see the module docs).
pub(crate) async fn redeem_code<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
    client: &str,
    now: i64,
) -> Result<Redeemed<AuthCode>, DbError> {
    let first = c
        .row(
            sql!("UPDATE oidc_codes SET used_at = $1 WHERE digest = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > $1 RETURNING *"),
            args![now, digest, client],
            &code,
        )
        .await?;
    if let Some(found) = first {
        return Ok(Redeemed::First(found));
    }
    let used: Option<Option<i64>> = c
        .row(
            sql!("SELECT used_at FROM oidc_codes WHERE digest = $1 AND client_id = $2"),
            args![digest, client],
            &|r| r.get(0),
        )
        .await?;
    match used {
        Some(Some(_)) => {
            revoke_family(c, &code_family(digest)).await?;
            Ok(Redeemed::Again)
        }
        _ => Ok(Redeemed::Invalid),
    }
}

/// Uses a refresh token once and stores its successors (see the module docs).
pub(crate) async fn rotate_refresh<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
    client: &str,
    now: i64,
    successors: &[OidcToken],
) -> Result<Step<Redeemed<OidcToken>>, DbError> {
    let first = c
        .row(
            sql!("UPDATE oidc_tokens SET used_at = $1 WHERE digest = $2 AND client_id = $3 AND kind = 'refresh' AND used_at IS NULL AND expires_at > $1 RETURNING *"),
            args![now, digest, client],
            &token,
        )
        .await?;
    if let Some(found) = first {
        insert_tokens(c, successors).await?;
        return Ok(Step::Commit(Redeemed::First(found)));
    }
    let family: Option<(String, Option<i64>)> = c
        .row(
            sql!("SELECT family, used_at FROM oidc_tokens WHERE digest = $1 AND client_id = $2 AND kind = 'refresh'"),
            args![digest, client],
            &|r| Ok((r.get(0)?, r.get(1)?)),
        )
        .await?;
    match family {
        Some((family, Some(_))) => {
            revoke_family(c, &family).await?;
            Ok(Step::Commit(Redeemed::Again))
        }
        _ => Ok(Step::Rollback(Redeemed::Invalid)),
    }
}

/// Revokes a token of `client`: a refresh token takes its family with it (RFC 7009 §2.1).
pub(crate) async fn revoke_token<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
    client: &str,
) -> Result<bool, DbError> {
    let found: Option<(String, String)> = c
        .row(
            sql!("SELECT kind, family FROM oidc_tokens WHERE digest = $1 AND client_id = $2"),
            args![digest, client],
            &|r| Ok((r.get(0)?, r.get(1)?)),
        )
        .await?;
    match found {
        Some((kind, family)) if kind == "refresh" => {
            revoke_family(c, &family).await?;
            Ok(true)
        }
        Some(_) => c
            .exec(
                sql!("DELETE FROM oidc_tokens WHERE digest = $1"),
                args![digest],
            )
            .await
            .map(|n| n == 1),
        None => Ok(false),
    }
}
