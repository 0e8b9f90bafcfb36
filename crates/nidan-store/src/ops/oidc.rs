//! The OpenID Connect provider's storage: clients, signing keys, authorization codes and tokens.
//!
//! Codes and refresh tokens are one-time: `used_at` is set by one conditional update
//! (`… AND used_at IS NULL AND expires_at > now`), so of two redemptions, on one node or many,
//! exactly one wins. The loser finds the row used and revokes what it issued: every token of the
//! code's family (RFC 6749 §4.1.2; RFC 9700 §4.14.2 for refresh tokens).

use nidan_domain::SecondStep;
use nidan_service::ports::{
    AuthCode, OidcClient, OidcToken, Redeemed, SigningKey, TokenKind, code_family,
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
}

/// Stores new keys and retires the ones in use.
pub(crate) async fn put_signing_keys<C: Conn>(
    c: &mut C,
    keys: &[SigningKey],
    now: i64,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE oidc_keys SET retired_at = $1 WHERE retired_at IS NULL"),
        args![now],
    )
    .await?;
    for k in keys {
        c.exec(
            sql!("INSERT INTO oidc_keys (kid, alg, sealed, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)"),
            args![k.kid.as_str(), k.alg.as_str(), &k.sealed, &k.public_jwk, k.created_at, k.retired_at],
        )
        .await?;
    }
    Ok(())
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
