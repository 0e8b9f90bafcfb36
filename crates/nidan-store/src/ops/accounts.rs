//! Accounts: creating and reading them, their password and two-step switch, their settings,
//! the wrong passwords counted per sign-in email, and API keys.

use nidan_service::ports::{
    ApiKeyRecord, NewNotice, NewUser, PasswordFailures, PasswordReset, UserRecord,
};
use nidan_service::{ApiKeyId, SessionId, UserId};

use crate::db::{Conn, DbError};
use crate::records::{self, USER_FIELDS, select_user, user_columns};
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

/// Sets or clears the password, and ends what the old one let in: every session but `keep`,
/// every remembered device, every unused reset link.
pub(crate) async fn set_password_hash<C: Conn>(
    c: &mut C,
    id: &UserId,
    hash: Option<&str>,
    keep: Option<&SessionId>,
) -> Result<(), DbError> {
    c.lock_user(id.as_str()).await?;
    c.exec(
        sql!("UPDATE users SET password_hash = $1 WHERE id = $2"),
        args![hash, id.as_str()],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL"),
        args![id.as_str()],
    )
    .await?;
    end_other_sessions(c, id, keep).await?;
    forget_devices(c, id).await.map(drop)
}

/// Stores a reset link as the account's only working one, unless `max_per_hour` were asked for
/// in the hour before it.
pub(crate) async fn create_password_reset<C: Conn>(
    c: &mut C,
    r: &PasswordReset,
    max_per_hour: u32,
) -> Result<bool, DbError> {
    c.lock_user(r.user_id.as_str()).await?;
    let recent: i64 = c
        .row(
            sql!("SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at > $2"),
            args![r.user_id.as_str(), r.created_at - 3600],
            &|row| row.get(0),
        )
        .await?
        .unwrap_or(0);
    if recent >= i64::from(max_per_hour) {
        return Ok(false);
    }
    c.exec(
        sql!("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL AND created_at <= $2 - 3600"),
        args![r.user_id.as_str(), r.created_at],
    )
    .await?;
    c.exec(
        sql!("UPDATE password_resets SET expires_at = $2 WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2"),
        args![r.user_id.as_str(), r.created_at],
    )
    .await?;
    c.exec(
        sql!("INSERT INTO password_resets (digest, user_id, created_at, expires_at, ip) VALUES ($1, $2, $3, $4, $5)"),
        args![&r.digest, r.user_id.as_str(), r.created_at, r.expires_at, &r.ip],
    )
    .await
    .map(|_| true)
}

pub(crate) async fn password_reset<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<PasswordReset>, DbError> {
    c.row(
        sql!("SELECT * FROM password_resets WHERE digest = $1"),
        args![digest],
        &records::password_reset,
    )
    .await
}

pub(crate) async fn discard_password_reset<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<(), DbError> {
    c.exec(
        sql!("DELETE FROM password_resets WHERE digest = $1"),
        args![digest],
    )
    .await
    .map(drop)
}

/// Uses the link (the one statement that decides) and sets the password with it, ending every
/// session; `None` when the link did not work.
pub(crate) async fn reset_password<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
    now: i64,
    hash: &str,
) -> Result<Option<UserId>, DbError> {
    let user: Option<UserId> = c
        .row(
            sql!("UPDATE password_resets SET used_at = $2 WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id"),
            args![digest, now],
            &|r| r.get(0),
        )
        .await?;
    if let Some(user) = &user {
        set_password_hash(c, user, Some(hash), None).await?;
    }
    Ok(user)
}

pub(crate) async fn set_email<C: Conn>(c: &mut C, id: &UserId, email: &str) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE users SET email = $1 WHERE id = $2"),
        args![email, id.as_str()],
    )
    .await
    .map(drop)
}

/// The account and everything of it; its activity has no foreign key (it is kept apart from
/// the account's rows for speed), the rest goes with the account's row.
pub(crate) async fn delete_user<C: Conn>(
    c: &mut C,
    id: &UserId,
    last_notice: &NewNotice,
) -> Result<bool, DbError> {
    c.lock_user(id.as_str()).await?;
    c.exec(
        sql!("DELETE FROM activity WHERE user_id = $1"),
        args![id.as_str()],
    )
    .await?;
    let gone = c
        .exec(sql!("DELETE FROM users WHERE id = $1"), args![id.as_str()])
        .await?;
    if gone == 1 {
        crate::ops::notices::enqueue_notice(c, last_notice).await?;
    }
    Ok(gone == 1)
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

/// Two-step on or off, methods kept; off may be until a time (`off_until`), when it turns back
/// on by itself ([`two_step_back_on`]). Either way every remembered device is forgotten; on also
/// ends every session but `keep`.
pub(crate) async fn set_two_step_enabled<C: Conn>(
    c: &mut C,
    id: &UserId,
    enabled: bool,
    keep: Option<&SessionId>,
    off_until: Option<i64>,
) -> Result<(), DbError> {
    c.lock_user(id.as_str()).await?;
    c.exec(
        sql!("UPDATE users SET two_step_enabled = $1, two_step_off_until = $3 WHERE id = $2"),
        args![enabled, id.as_str(), off_until.filter(|_| !enabled)],
    )
    .await?;
    forget_devices(c, id).await?;
    if enabled {
        end_other_sessions(c, id, keep).await?;
    }
    Ok(())
}

/// Accounts whose "off until" time has come, at most `limit`.
pub(crate) async fn due_two_step_back_on<C: Conn>(
    c: &mut C,
    now: i64,
    limit: u32,
) -> Result<Vec<UserId>, DbError> {
    c.rows(
        sql!("SELECT id FROM users WHERE two_step_off_until <= $1 ORDER BY two_step_off_until LIMIT $2"),
        args![now, i64::from(limit)],
        &|r| r.get(0),
    )
    .await
}

/// Turns two-step back on when its "off until" time has come (one conditional update decides,
/// so of several nodes one does it), ending every session and forgetting every device as
/// turning it on always does. False when it was not due (any more).
pub(crate) async fn two_step_back_on<C: Conn>(
    c: &mut C,
    id: &UserId,
    now: i64,
) -> Result<bool, DbError> {
    c.lock_user(id.as_str()).await?;
    let n = c
        .exec(
            sql!("UPDATE users SET two_step_enabled = TRUE, two_step_off_until = NULL WHERE id = $1 AND two_step_off_until <= $2"),
            args![id.as_str(), now],
        )
        .await?;
    if n == 1 {
        forget_devices(c, id).await?;
        end_other_sessions(c, id, None).await?;
    }
    Ok(n == 1)
}

/// Disables the account (every session, open challenge and remembered device ends with it), or
/// enables it again (`None`).
pub(crate) async fn set_disabled<C: Conn>(
    c: &mut C,
    id: &UserId,
    disabled_at: Option<i64>,
) -> Result<bool, DbError> {
    c.lock_user(id.as_str()).await?;
    let n = c
        .exec(
            sql!("UPDATE users SET disabled_at = $1 WHERE id = $2"),
            args![disabled_at, id.as_str()],
        )
        .await?;
    if n == 1 && disabled_at.is_some() {
        end_other_sessions(c, id, None).await?;
        forget_devices(c, id).await?;
        c.exec(
            sql!("DELETE FROM challenges WHERE user_id = $1 AND consumed_at IS NULL"),
            args![id.as_str()],
        )
        .await?;
    }
    Ok(n == 1)
}

/// Accounts whose email contains `query` (any case), in email order, with whether each has a
/// confirmed method; at most `limit`, after the email `after`.
pub(crate) async fn list_users<C: Conn>(
    c: &mut C,
    query: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<(UserRecord, bool)>, DbError> {
    let pattern = format!(
        "%{}%",
        query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    c.rows(
        sql!(concat!(
            "SELECT ",
            user_columns!("u."),
            ", (EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL)
                OR EXISTS (SELECT 1 FROM oob_methods o WHERE o.user_id = u.id AND o.confirmed_at IS NOT NULL))
             FROM users u WHERE LOWER(u.email) LIKE $1 ESCAPE '\\' AND u.email > $2 ORDER BY u.email LIMIT $3"
        )),
        args![pattern.as_str(), after, i64::from(limit)],
        &|r| Ok((records::user(r)?, r.get(USER_FIELDS.len())?)),
    )
    .await
}

pub(crate) async fn add_group<C: Conn>(
    c: &mut C,
    id: &UserId,
    name: &str,
) -> Result<bool, DbError> {
    c.exec(
        sql!("INSERT INTO user_groups (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
        args![id.as_str(), name],
    )
    .await
    .map(|n| n == 1)
}

pub(crate) async fn remove_group<C: Conn>(
    c: &mut C,
    id: &UserId,
    name: &str,
) -> Result<bool, DbError> {
    c.exec(
        sql!("DELETE FROM user_groups WHERE user_id = $1 AND name = $2"),
        args![id.as_str(), name],
    )
    .await
    .map(|n| n == 1)
}

pub(crate) async fn groups<C: Conn>(c: &mut C, id: &UserId) -> Result<Vec<String>, DbError> {
    c.rows(
        sql!("SELECT name FROM user_groups WHERE user_id = $1 ORDER BY name"),
        args![id.as_str()],
        &|r| r.get(0),
    )
    .await
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
        sql!("INSERT INTO api_keys (id, name, digest, created_at, scopes) VALUES ($1, $2, $3, $4, $5)"),
        args![key.id.as_str(), &key.name, digest, key.created_at, &key.scopes],
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

pub(crate) async fn list_api_keys<C: Conn>(c: &mut C) -> Result<Vec<ApiKeyRecord>, DbError> {
    c.rows(
        sql!("SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY name"),
        args![],
        &records::api_key,
    )
    .await
}

pub(crate) async fn touch_api_key<C: Conn>(
    c: &mut C,
    id: &ApiKeyId,
    now: i64,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE api_keys SET last_used_at = $1 WHERE id = $2"),
        args![now, id.as_str()],
    )
    .await
    .map(drop)
}
