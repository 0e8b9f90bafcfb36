//! Accounts: creating and reading them, their password and two-step switch, their settings,
//! the wrong passwords counted per sign-in email, and API keys.

use nidan_service::SessionId;
use nidan_service::UserId;
use nidan_service::ports::{ApiKeyRecord, NewUser, PasswordFailures, UserRecord};

use crate::db::{Conn, DbError};
use crate::records::{self, select_user};
use crate::{args, sql};

pub(crate) async fn create_user<C: Conn>(c: &mut C, u: &NewUser) -> Result<(), DbError> {
    c.exec(
        sql!("INSERT INTO users (id, email, password_hash, locale, created_at) VALUES ($1, $2, $3, $4, $5)"),
        args![u.id.as_str(), &u.email, &u.password_hash, u.locale.as_str(), u.created_at],
    )
    .await
    .map(drop)
}

pub(crate) async fn user_by_email<C: Conn>(
    c: &mut C,
    email: &str,
) -> Result<Option<UserRecord>, DbError> {
    c.row(
        select_user!("WHERE email = $1"),
        args![email],
        &records::user,
    )
    .await
}

pub(crate) async fn user_by_id<C: Conn>(
    c: &mut C,
    id: &UserId,
) -> Result<Option<UserRecord>, DbError> {
    c.row(
        select_user!("WHERE id = $1"),
        args![id.as_str()],
        &records::user,
    )
    .await
}

/// Sets or clears the password; remembered devices are forgotten (a credential change).
pub(crate) async fn set_password_hash<C: Conn>(
    c: &mut C,
    id: &UserId,
    hash: Option<&str>,
) -> Result<(), DbError> {
    c.lock_user(id.as_str()).await?;
    c.exec(
        sql!("UPDATE users SET password_hash = $1 WHERE id = $2"),
        args![hash, id.as_str()],
    )
    .await?;
    forget_devices(c, id).await.map(drop)
}

/// Every remembered device of the user; answers how many.
pub(crate) async fn forget_devices<C: Conn>(c: &mut C, user: &UserId) -> Result<u64, DbError> {
    c.exec(
        sql!("DELETE FROM devices WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await
}

/// Every session of the user but `keep` (all of them without one).
pub(crate) async fn end_other_sessions<C: Conn>(
    c: &mut C,
    user: &UserId,
    keep: Option<&SessionId>,
) -> Result<(), DbError> {
    c.exec(
        sql!("DELETE FROM sessions WHERE user_id = $1 AND id <> COALESCE($2, '')"),
        args![user.as_str(), keep.map(SessionId::as_str)],
    )
    .await
    .map(drop)
}

/// Two-step on or off, methods kept. Either way every remembered device is forgotten; on also
/// ends every session but `keep`.
pub(crate) async fn set_two_step_enabled<C: Conn>(
    c: &mut C,
    id: &UserId,
    enabled: bool,
    keep: Option<&SessionId>,
) -> Result<(), DbError> {
    c.lock_user(id.as_str()).await?;
    c.exec(
        sql!("UPDATE users SET two_step_enabled = $1 WHERE id = $2"),
        args![enabled, id.as_str()],
    )
    .await?;
    forget_devices(c, id).await?;
    if enabled {
        end_other_sessions(c, id, keep).await?;
    }
    Ok(())
}

pub(crate) async fn set_default_method<C: Conn>(
    c: &mut C,
    user: &UserId,
    method: &str,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE users SET default_method = $1 WHERE id = $2"),
        args![method, user.as_str()],
    )
    .await
    .map(drop)
}

pub(crate) async fn set_locale<C: Conn>(
    c: &mut C,
    user: &UserId,
    locale: &str,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE users SET locale = $1 WHERE id = $2"),
        args![locale, user.as_str()],
    )
    .await
    .map(drop)
}

pub(crate) async fn password_failures<C: Conn>(
    c: &mut C,
    subject: &[u8; 32],
) -> Result<PasswordFailures, DbError> {
    let found = c
        .row(
            sql!("SELECT failures, last_failure_at FROM password_failures WHERE subject = $1"),
            args![subject],
            &|r| {
                Ok(PasswordFailures {
                    failures: r.get("failures")?,
                    last_failure_at: r.get("last_failure_at")?,
                })
            },
        )
        .await?;
    Ok(found.unwrap_or_default())
}

/// Counts one password attempt, before it is judged, if the count is still the one seen (a
/// missing row counts as 0): of parallel attempts that saw the same count, one wins. A right
/// password then deletes the row, so the database decides how many passwords are judged.
pub(crate) async fn reserve_password_attempt<C: Conn>(
    c: &mut C,
    subject: &[u8; 32],
    seen: PasswordFailures,
    now: i64,
) -> Result<bool, DbError> {
    let n = c
        .exec(
            sql!("INSERT INTO password_failures (subject, failures, last_failure_at) VALUES ($1, 1, $2)
             ON CONFLICT (subject) DO UPDATE SET failures = password_failures.failures + 1, last_failure_at = $2
             WHERE password_failures.failures = $3"),
            args![subject, now, i64::from(seen.failures)],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn clear_password_failures<C: Conn>(
    c: &mut C,
    subject: &[u8; 32],
) -> Result<(), DbError> {
    c.exec(
        sql!("DELETE FROM password_failures WHERE subject = $1"),
        args![subject],
    )
    .await
    .map(drop)
}

/// Forgets the account's counted wrong codes (a support unlock).
pub(crate) async fn clear_code_failures<C: Conn>(c: &mut C, user: &UserId) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE users SET failed_attempts = 0, last_failure_at = NULL WHERE id = $1"),
        args![user.as_str()],
    )
    .await
    .map(drop)
}

pub(crate) async fn create_api_key<C: Conn>(
    c: &mut C,
    key: &ApiKeyRecord,
    digest: &[u8; 32],
) -> Result<(), DbError> {
    c.exec(
        sql!("INSERT INTO api_keys (id, name, digest, created_at) VALUES ($1, $2, $3, $4)"),
        args![key.id.as_str(), &key.name, digest, key.created_at],
    )
    .await
    .map(drop)
}

pub(crate) async fn api_key_by_digest<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<ApiKeyRecord>, DbError> {
    c.row(
        sql!("SELECT * FROM api_keys WHERE digest = $1 AND revoked_at IS NULL"),
        args![digest],
        &records::api_key,
    )
    .await
}

pub(crate) async fn revoke_api_key<C: Conn>(
    c: &mut C,
    name: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = c
        .exec(
            sql!("UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL"),
            args![now, name],
        )
        .await?;
    Ok(n == 1)
}
