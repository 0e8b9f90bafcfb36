//! Authenticator apps, recovery codes, and what turning two-step on or removing a method
//! writes with them.

use nidan_service::ports::{FirstMethod, TotpCredential};
use nidan_service::{CredentialId, UserId};

use super::accounts::{end_other_sessions, forget_devices};
use crate::db::{Conn, DbError, Step};
use crate::records;
use crate::{args, sql, statements};

/// Stores a pending app, replacing an earlier pending one of the user.
pub(crate) async fn put_pending_totp<C: Conn>(
    c: &mut C,
    t: &TotpCredential,
) -> Result<(), DbError> {
    c.lock_user(t.user_id.as_str()).await?;
    c.exec(
        sql!("DELETE FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NULL"),
        args![t.user_id.as_str()],
    )
    .await?;
    c.exec(
        sql!("INSERT INTO totp_credentials (id, user_id, sealed_secret, last_used_step, confirmed_at, created_at) VALUES ($1, $2, $3, -1, NULL, $4)"),
        args![t.id.as_str(), t.user_id.as_str(), &t.sealed_secret, t.created_at],
    )
    .await
    .map(drop)
}

statements! {
    pending_totp(user: &UserId) -> Option<TotpCredential> =
        row(records::totp) "SELECT * FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NULL ORDER BY created_at DESC LIMIT 1"
        [user.as_str()];

    active_totp(user: &UserId) -> Option<TotpCredential> =
        row(records::totp) "SELECT * FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY confirmed_at DESC LIMIT 1"
        [user.as_str()];
}

/// Makes the pending app the active one; a new app replaces the old one (its seed is
/// destroyed).
pub(crate) async fn activate_totp<C: Conn>(
    c: &mut C,
    user: &UserId,
    credential: &CredentialId,
    now: i64,
    first: Option<&FirstMethod>,
) -> Result<Step<bool>, DbError> {
    c.lock_user(user.as_str()).await?;
    let confirmed = c
        .exec(
            sql!("UPDATE totp_credentials SET confirmed_at = $1 WHERE id = $2 AND user_id = $3 AND confirmed_at IS NULL"),
            args![now, credential.as_str(), user.as_str()],
        )
        .await?;
    if confirmed != 1 {
        return Ok(Step::Rollback(false));
    }
    c.exec(
        sql!("DELETE FROM totp_credentials WHERE user_id = $1 AND id <> $2"),
        args![user.as_str(), credential.as_str()],
    )
    .await?;
    method_confirmed(c, user, "totp", first, now).await?;
    Ok(Step::Commit(true))
}

pub(crate) async fn delete_totp<C: Conn>(c: &mut C, user: &UserId) -> Result<(), DbError> {
    c.lock_user(user.as_str()).await?;
    c.exec(
        sql!("DELETE FROM totp_credentials WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    after_method_removed(c, user, "totp").await
}

statements! {
    all_sealed_secrets() -> Vec<(CredentialId, UserId, Vec<u8>)> =
        rows(|r| Ok((r.get("id")?, r.get("user_id")?, r.get("sealed_secret")?)))
        "SELECT id, user_id, sealed_secret FROM totp_credentials" [];
}

pub(crate) async fn reseal_secrets<C: Conn>(
    c: &mut C,
    rows: &[(CredentialId, Vec<u8>)],
) -> Result<(), DbError> {
    for (id, blob) in rows {
        c.exec(
            sql!("UPDATE totp_credentials SET sealed_secret = $1 WHERE id = $2"),
            args![blob, id.as_str()],
        )
        .await?;
    }
    Ok(())
}

/// Replaces the user's recovery codes with these digests.
pub(crate) async fn replace_recovery_codes<C: Conn>(
    c: &mut C,
    user: &UserId,
    digests: &[[u8; 32]],
    now: i64,
) -> Result<(), DbError> {
    c.lock_user(user.as_str()).await?;
    c.exec(
        sql!("DELETE FROM recovery_codes WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    for d in digests {
        c.exec(
            sql!("INSERT INTO recovery_codes (user_id, digest, created_at) VALUES ($1, $2, $3)"),
            args![user.as_str(), d, now],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn recovery_codes_left<C: Conn>(c: &mut C, user: &UserId) -> Result<u32, DbError> {
    let n = c
        .row(
            sql!("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"),
            args![user.as_str()],
            &|r| r.get::<u32>(0),
        )
        .await?;
    Ok(n.unwrap_or(0))
}

/// After a method was confirmed: with `first` (the account's first method) two-step turns on
/// with its recovery codes, every other session ends and every remembered device is forgotten
/// (nothing made with less than the second step outlives it); otherwise the method becomes the
/// default if the account had none.
pub(crate) async fn method_confirmed<C: Conn>(
    c: &mut C,
    user: &UserId,
    method: &str,
    first: Option<&FirstMethod>,
    now: i64,
) -> Result<(), DbError> {
    let Some(first) = first else {
        return c
            .exec(
                sql!(
                    "UPDATE users SET default_method = COALESCE(default_method, $1) WHERE id = $2"
                ),
                args![method, user.as_str()],
            )
            .await
            .map(drop);
    };
    c.exec(
        sql!("UPDATE users SET two_step_enabled = TRUE, two_step_off_until = NULL, default_method = $1 WHERE id = $2"),
        args![first.default_method.as_str(), user.as_str()],
    )
    .await?;
    replace_recovery_codes(c, user, &first.recovery_digests, now).await?;
    end_other_sessions(c, user, first.keep_session.as_ref()).await?;
    if let Some(keep) = &first.keep_session {
        // The session that confirmed the first method gave the password and a code of it:
        // from now on it counts as made with two steps.
        c.exec(
            sql!("UPDATE sessions SET second_step = $1 WHERE id = $2 AND user_id = $3"),
            args![method, keep.as_str(), user.as_str()],
        )
        .await?;
    }
    forget_devices(c, user).await.map(drop)
}

/// After a method is removed: when no confirmed method is left, two-step becomes `none` and
/// recovery codes, remembered devices and open challenges must not outlive it (the failure count
/// starts again from zero, as after `remove_two_step`); otherwise the default method moves to a
/// remaining one if it pointed at the removed kind.
pub(crate) async fn after_method_removed<C: Conn>(
    c: &mut C,
    user: &UserId,
    removed: &str,
) -> Result<(), DbError> {
    let remaining: Option<String> = c
        .row(
            sql!("SELECT CAST('webauthn' AS TEXT) FROM webauthn_credentials WHERE user_id = $1
             UNION ALL SELECT CAST('totp' AS TEXT) FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL
             UNION ALL SELECT channel FROM oob_methods WHERE user_id = $1 AND confirmed_at IS NOT NULL
             LIMIT 1"),
            args![user.as_str()],
            &|r| r.get(0),
        )
        .await?;
    match remaining {
        None => reset_two_step(c, user).await,
        Some(other) => c
            .exec(
                sql!("UPDATE users SET default_method = $1 WHERE id = $2 AND default_method = $3"),
                args![&other, user.as_str(), removed],
            )
            .await
            .map(drop),
    }
}

/// What is left of two-step when no method is: recovery codes, remembered devices, open
/// challenges and unused codes go; the account is back to `none` with no failures counted.
async fn reset_two_step<C: Conn>(c: &mut C, user: &UserId) -> Result<(), DbError> {
    c.exec(
        sql!("DELETE FROM recovery_codes WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    forget_devices(c, user).await?;
    c.exec(
        sql!("DELETE FROM challenges WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM webauthn_ceremonies WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM oob_codes WHERE user_id = $1 AND used_at IS NULL"),
        args![user.as_str()],
    )
    .await?;
    c.exec(
        sql!("UPDATE users SET two_step_enabled = FALSE, two_step_off_until = NULL, default_method = NULL, failed_attempts = 0, last_failure_at = NULL WHERE id = $1"),
        args![user.as_str()],
    )
    .await
    .map(drop)
}

/// Removes every method, recovery code and remembered device; with `end_sessions` (a support
/// reset) every session ends too.
pub(crate) async fn remove_two_step<C: Conn>(
    c: &mut C,
    user: &UserId,
    end_sessions: bool,
) -> Result<(), DbError> {
    c.lock_user(user.as_str()).await?;
    c.exec(
        sql!("DELETE FROM totp_credentials WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM oob_methods WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    c.exec(
        sql!("DELETE FROM webauthn_credentials WHERE user_id = $1"),
        args![user.as_str()],
    )
    .await?;
    reset_two_step(c, user).await?;
    if end_sessions {
        end_other_sessions(c, user, None).await?;
    }
    Ok(())
}
