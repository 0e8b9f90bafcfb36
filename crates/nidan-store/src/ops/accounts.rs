//! Accounts: creating and reading them, their password and two-step switch, their settings,
//! the wrong passwords counted per sign-in email, and API keys.

use nidan_service::ports::{
    ApiKeyRecord, NewNotice, NewUser, PasswordFailures, PasswordReset, UserRecord,
};
use nidan_service::{ApiKeyId, SessionId, UserId};

use crate::db::{Conn, DbError};
use crate::records::{self, USER_FIELDS, select_user, user_columns};
use crate::{args, sql, statements};

statements! {
    create_user(u: &NewUser) -> () =
        done "INSERT INTO users (id, email, password_hash, locale, created_at) VALUES ($1, $2, $3, $4, $5)"
        [u.id.as_str(), &u.email, &u.password_hash, u.locale.as_str(), u.created_at];
}

statements! {
    user_by_email(email: &str) -> Option<UserRecord> =
        row(records::user) { select_user!("WHERE email = $1") } [email];
    user_by_id(id: &UserId) -> Option<UserRecord> =
        row(records::user) { select_user!("WHERE id = $1") } [id.as_str()];
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

statements! {
    password_reset(digest: &[u8; 32]) -> Option<PasswordReset> =
        row(records::password_reset) "SELECT * FROM password_resets WHERE digest = $1"
        [digest];

    discard_password_reset(digest: &[u8; 32]) -> () =
        done "DELETE FROM password_resets WHERE digest = $1"
        [digest];
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

statements! {
    set_email(id: &UserId, email: &str) -> () =
        done "UPDATE users SET email = $1 WHERE id = $2"
        [email, id.as_str()];
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

statements! {
    /// Every remembered device of the user; answers how many.
    forget_devices(user: &UserId) -> u64 =
        count "DELETE FROM devices WHERE user_id = $1" [user.as_str()];
}

statements! {
    /// Every session of the user but `keep` (all of them without one).
    end_other_sessions(user: &UserId, keep: Option<&SessionId>) -> () =
        done "DELETE FROM sessions WHERE user_id = $1 AND id <> COALESCE($2, '')"
        [user.as_str(), keep.map(SessionId::as_str)];
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

statements! {
    /// Accounts whose "off until" time has come, at most `limit`.
    due_two_step_back_on(now: i64, limit: u32) -> Vec<UserId> =
        rows(|r| r.get(0)) "SELECT id FROM users WHERE two_step_off_until <= $1 ORDER BY two_step_off_until LIMIT $2" [now, i64::from(limit)];
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

statements! {
    add_group(id: &UserId, name: &str) -> bool =
        one "INSERT INTO user_groups (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        [id.as_str(), name];

    remove_group(id: &UserId, name: &str) -> bool =
        one "DELETE FROM user_groups WHERE user_id = $1 AND name = $2"
        [id.as_str(), name];

    groups(id: &UserId) -> Vec<String> =
        rows(|r| r.get(0)) "SELECT name FROM user_groups WHERE user_id = $1 ORDER BY name" [id.as_str()];

    set_default_method(user: &UserId, method: &str) -> () =
        done "UPDATE users SET default_method = $1 WHERE id = $2"
        [method, user.as_str()];

    set_locale(user: &UserId, locale: &str) -> () =
        done "UPDATE users SET locale = $1 WHERE id = $2"
        [locale, user.as_str()];
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

statements! {
    /// Counts one password attempt, before it is judged, if the count is still the one seen (a
    /// missing row counts as 0): of parallel attempts that saw the same count, one wins. A right
    /// password then deletes the row, so the database decides how many passwords are judged.
    reserve_password_attempt(subject: &[u8; 32], seen: PasswordFailures, now: i64) -> bool =
        one "INSERT INTO password_failures (subject, failures, last_failure_at) VALUES ($1, 1, $2) ON CONFLICT (subject) DO UPDATE SET failures = password_failures.failures + 1, last_failure_at = $2 WHERE password_failures.failures = $3"
        [subject, now, i64::from(seen.failures)];

    clear_password_failures(subject: &[u8; 32]) -> () =
        done "DELETE FROM password_failures WHERE subject = $1"
        [subject];

    /// Forgets the account's counted wrong codes (a support unlock).
    clear_code_failures(user: &UserId) -> () =
        done "UPDATE users SET failed_attempts = 0, last_failure_at = NULL WHERE id = $1"
        [user.as_str()];

    create_api_key(key: &ApiKeyRecord, digest: &[u8; 32]) -> () =
        done "INSERT INTO api_keys (id, name, digest, created_at, scopes) VALUES ($1, $2, $3, $4, $5)"
        [key.id.as_str(), &key.name, digest, key.created_at, &key.scopes];

    api_key_by_digest(digest: &[u8; 32]) -> Option<ApiKeyRecord> =
        row(records::api_key) "SELECT * FROM api_keys WHERE digest = $1 AND revoked_at IS NULL"
        [digest];

    revoke_api_key(name: &str, now: i64) -> bool =
        one "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL"
        [now, name];

    list_api_keys() -> Vec<ApiKeyRecord> =
        rows(records::api_key) "SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY name"
        [];

    touch_api_key(id: &ApiKeyId, now: i64) -> () =
        done "UPDATE api_keys SET last_used_at = $1 WHERE id = $2"
        [now, id.as_str()];
}
