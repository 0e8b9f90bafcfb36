//! The multi-statement operations on PostgreSQL, each one READ COMMITTED transaction that starts
//! by locking the account's row (see the module docs of `postgres`). Each `*_once` function is
//! one try; the `Store` methods wrap them in `retrying!`.
//!
//! `settle_once` is the heart: under the account lock it reserves the attempt with a
//! compare-and-swap on the failure count (the compare is a read under the lock), reserves one of
//! the challenge's attempts, consumes the factor with a conditional update, and on success clears
//! the failures and creates the session — all or nothing. Concurrent requests for the same code on any number of nodes therefore produce
//! exactly one success.

use nidan_service::ports::{
    Attempt, Candidate, FirstMethod, NewActivity, NewDevice, NewSession, Settled, TotpCredential,
};
use nidan_service::{CredentialId, DeviceId, SessionId, UserId};
use sqlx::{Postgres, Transaction};

use super::{PgStore, TxError, lock_user};

type Tx = Transaction<'static, Postgres>;

pub(crate) async fn insert_session(tx: &mut Tx, s: &NewSession) -> Result<(), TxError> {
    sqlx::query("INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(s.record.id.as_str())
        .bind(&s.digest[..])
        .bind(s.record.user_id.as_str())
        .bind(s.record.created_at)
        .bind(s.record.last_seen_at)
        .bind(&s.record.ip)
        .bind(&s.record.user_agent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends an activity line, in a transaction or straight on the pool.
pub(crate) async fn insert_activity<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    e: &NewActivity,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO activity (user_id, at, kind, method, result, ip, user_agent, detail, country) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(e.user_id.as_str())
        .bind(e.at)
        .bind(e.kind)
        .bind(e.method.map(|m| m.as_str()))
        .bind(e.result)
        .bind(&e.ip)
        .bind(&e.user_agent)
        .bind(&e.detail)
        .bind(&e.country)
        .execute(ex)
        .await?;
    Ok(())
}

/// The activity line of a settled attempt, in its transaction (see `Attempt::record`).
async fn record_settled(tx: &mut Tx, a: &Attempt, settled: &Settled) -> Result<(), TxError> {
    match a.record_for(settled) {
        Some(event) => Ok(insert_activity(&mut **tx, &event).await?),
        None => Ok(()),
    }
}

async fn insert_device(tx: &mut Tx, d: &NewDevice) -> Result<(), TxError> {
    sqlx::query("INSERT INTO devices (id, digest, user_id, name, created_at, last_used_at, last_ip, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(d.record.id.as_str())
        .bind(&d.digest[..])
        .bind(d.record.user_id.as_str())
        .bind(&d.record.name)
        .bind(d.record.created_at)
        .bind(d.record.last_used_at)
        .bind(&d.record.last_ip)
        .bind(d.record.expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_recovery_codes(
    tx: &mut Tx,
    user: &UserId,
    digests: &[[u8; 32]],
    now: i64,
) -> Result<(), TxError> {
    run_for_user(tx, "DELETE FROM recovery_codes WHERE user_id = $1", user).await?;
    for d in digests {
        sqlx::query("INSERT INTO recovery_codes (user_id, digest, created_at) VALUES ($1, $2, $3)")
            .bind(user.as_str())
            .bind(&d[..])
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Runs one statement whose only parameter is the user id.
pub(crate) async fn run_for_user(
    tx: &mut Tx,
    sql: &'static str,
    user: &UserId,
) -> Result<u64, TxError> {
    let r = sqlx::query(sql)
        .bind(user.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected())
}

/// Writes what turning two-step on for the first time writes, or makes sure a default method is
/// set when it was on already.
pub(crate) async fn first_method_or_default(
    tx: &mut Tx,
    user: &UserId,
    now: i64,
    first: Option<&FirstMethod>,
    kind: &str,
) -> Result<(), TxError> {
    if let Some(first) = first {
        sqlx::query("UPDATE users SET two_step_enabled = TRUE, default_method = $1 WHERE id = $2")
            .bind(first.default_method.as_str())
            .bind(user.as_str())
            .execute(&mut **tx)
            .await?;
        insert_recovery_codes(tx, user, &first.recovery_digests, now).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> COALESCE($2, '')")
            .bind(user.as_str())
            .bind(first.keep_session.as_ref().map(|s| s.as_str().to_owned()))
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM devices WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query("UPDATE users SET default_method = COALESCE(default_method, $1) WHERE id = $2")
            .bind(kind)
            .bind(user.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// After a method is removed: when no confirmed method is left, two-step becomes `none` and
/// recovery codes, remembered devices and open challenges must not outlive it (the failure count
/// starts again from zero, as after `remove_two_step`); otherwise the default method moves to a
/// remaining one if it pointed at the removed kind.
pub(crate) async fn after_method_removed(
    tx: &mut Tx,
    user: &UserId,
    removed: &'static str,
) -> Result<(), TxError> {
    let remaining: Option<String> = sqlx::query_scalar(
        "SELECT 'totp'::TEXT FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL
         UNION ALL SELECT channel FROM oob_methods WHERE user_id = $1 AND confirmed_at IS NOT NULL
         LIMIT 1",
    )
    .bind(user.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match remaining {
        None => {
            for sql in [
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "DELETE FROM devices WHERE user_id = $1",
                "DELETE FROM challenges WHERE user_id = $1",
                "DELETE FROM oob_codes WHERE user_id = $1 AND used_at IS NULL",
                "UPDATE users SET two_step_enabled = FALSE, default_method = NULL, failed_attempts = 0, last_failure_at = NULL WHERE id = $1",
            ] {
                run_for_user(tx, sql, user).await?;
            }
        }
        Some(other) => {
            sqlx::query(
                "UPDATE users SET default_method = $1 WHERE id = $2 AND default_method = $3",
            )
            .bind(other)
            .bind(user.as_str())
            .bind(removed)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl PgStore {
    pub(crate) async fn settle_once(&self, a: &Attempt) -> Result<Settled, TxError> {
        let mut tx = self.begin().await?;
        // Every attempt for this account, on every node, waits here for the one before it; under
        // the lock the count cannot change, so the compare of the compare-and-swap is this read
        // and the row is written below only when the count really changes (one statement and
        // one row version less for a right code on an account without failures).
        let failures: Option<i64> =
            sqlx::query_scalar("SELECT failed_attempts FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(a.user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if failures != Some(i64::from(a.seen_failures)) {
            return Ok(Settled::Raced); // dropping the transaction rolls it back
        }

        let mut attempts_left = None;
        if let Some(c) = &a.challenge {
            let attempts: Option<i64> = sqlx::query_scalar(
                "UPDATE challenges SET attempts = attempts + 1 WHERE digest = $1 AND user_id = $2 AND consumed_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING attempts",
            )
            .bind(&c.digest[..])
            .bind(a.user_id.as_str())
            .bind(a.now)
            .bind(i64::from(c.max_attempts))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(attempts) = attempts else {
                return Ok(Settled::ChallengeDead);
            };
            attempts_left = Some((i64::from(c.max_attempts) - attempts).max(0) as u32);
        }

        let (accepted, replayed, is_recovery) = match &a.candidate {
            Candidate::TotpStep {
                credential_id,
                step,
            } => {
                let step = i64::try_from(*step).unwrap_or(i64::MAX);
                let r = sqlx::query("UPDATE totp_credentials SET last_used_step = $1 WHERE id = $2 AND user_id = $3 AND last_used_step < $1")
                    .bind(step)
                    .bind(credential_id.as_str())
                    .bind(a.user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                let ok = r.rows_affected() == 1;
                (ok, !ok, false)
            }
            Candidate::RecoveryDigest(d) => {
                let r = sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL")
                    .bind(a.now)
                    .bind(a.user_id.as_str())
                    .bind(&d[..])
                    .execute(&mut *tx)
                    .await?;
                (r.rows_affected() == 1, false, true)
            }
            Candidate::OobCode {
                code_id,
                digest,
                max_attempts,
            } => {
                // One try counted against the code itself, only while it is alive; it is used up
                // in the same statement when the digest matches.
                let used: Option<bool> = sqlx::query_scalar(
                    "UPDATE oob_codes SET attempts = attempts + 1, used_at = CASE WHEN digest = $5 THEN $3 ELSE used_at END WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING used_at IS NOT NULL",
                )
                .bind(code_id)
                .bind(a.user_id.as_str())
                .bind(a.now)
                .bind(i64::from(*max_attempts))
                .bind(&digest[..])
                .fetch_optional(&mut *tx)
                .await?;
                (used == Some(true), false, false)
            }
            Candidate::Wrong => (false, false, false),
        };

        if !accepted {
            sqlx::query(
                "UPDATE users SET failed_attempts = failed_attempts + 1, last_failure_at = $1 WHERE id = $2",
            )
            .bind(a.now)
            .bind(a.user_id.as_str())
            .execute(&mut *tx)
            .await?;
            let settled = Settled::Rejected {
                failures: a.seen_failures.saturating_add(1),
                challenge_attempts_left: attempts_left,
                replayed,
            };
            record_settled(&mut tx, a, &settled).await?;
            tx.commit().await?;
            return Ok(settled);
        }

        // Under the lock the count is `seen_failures`; a count of 0 always has no failure time.
        if a.seen_failures != 0 {
            sqlx::query(
                "UPDATE users SET failed_attempts = 0, last_failure_at = NULL WHERE id = $1",
            )
            .bind(a.user_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let recovery_codes_left = if is_recovery {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(a.user_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            Some(n.clamp(0, i64::from(u32::MAX)) as u32)
        } else {
            None
        };
        if let Some(c) = &a.challenge {
            sqlx::query("UPDATE challenges SET consumed_at = $1 WHERE digest = $2")
                .bind(a.now)
                .bind(&c.digest[..])
                .execute(&mut *tx)
                .await?;
            insert_session(&mut tx, &c.grant.session).await?;
            if let Some(d) = &c.grant.device {
                insert_device(&mut tx, d).await?;
            }
        }
        let settled = Settled::Accepted {
            recovery_codes_left,
        };
        record_settled(&mut tx, a, &settled).await?;
        tx.commit().await?;
        Ok(settled)
    }

    pub(crate) async fn set_password_once(
        &self,
        id: &UserId,
        hash: Option<&str>,
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, id).await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        run_for_user(&mut tx, "DELETE FROM devices WHERE user_id = $1", id).await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn set_two_step_once(
        &self,
        id: &UserId,
        enabled: bool,
        keep_session: Option<&SessionId>,
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, id).await?;
        sqlx::query("UPDATE users SET two_step_enabled = $1 WHERE id = $2")
            .bind(enabled)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        run_for_user(&mut tx, "DELETE FROM devices WHERE user_id = $1", id).await?;
        if enabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> COALESCE($2, '')")
                .bind(id.as_str())
                .bind(keep_session.map(|s| s.as_str().to_owned()))
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx.commit().await?)
    }

    pub(crate) async fn put_pending_totp_once(&self, c: &TotpCredential) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, &c.user_id).await?;
        run_for_user(
            &mut tx,
            "DELETE FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NULL",
            &c.user_id,
        )
        .await?;
        sqlx::query("INSERT INTO totp_credentials (id, user_id, sealed_secret, last_used_step, confirmed_at, created_at) VALUES ($1, $2, $3, -1, NULL, $4)")
            .bind(c.id.as_str())
            .bind(c.user_id.as_str())
            .bind(&c.sealed_secret)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn activate_once(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: i64,
        first: Option<&FirstMethod>,
    ) -> Result<bool, TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        let r = sqlx::query("UPDATE totp_credentials SET confirmed_at = $1 WHERE id = $2 AND user_id = $3 AND confirmed_at IS NULL")
            .bind(now)
            .bind(credential.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        // A new app replaces the old one: its seed is destroyed.
        sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1 AND id <> $2")
            .bind(user.as_str())
            .bind(credential.as_str())
            .execute(&mut *tx)
            .await?;
        first_method_or_default(&mut tx, user, now, first, "totp").await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn delete_totp_once(&self, user: &UserId) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        run_for_user(
            &mut tx,
            "DELETE FROM totp_credentials WHERE user_id = $1",
            user,
        )
        .await?;
        after_method_removed(&mut tx, user, "totp").await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn remove_all_once(
        &self,
        user: &UserId,
        end_sessions: bool,
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        for sql in [
            "DELETE FROM totp_credentials WHERE user_id = $1",
            "DELETE FROM oob_methods WHERE user_id = $1",
            "DELETE FROM oob_codes WHERE user_id = $1 AND used_at IS NULL",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM devices WHERE user_id = $1",
            "DELETE FROM challenges WHERE user_id = $1",
            "UPDATE users SET two_step_enabled = FALSE, default_method = NULL, failed_attempts = 0, last_failure_at = NULL WHERE id = $1",
        ] {
            run_for_user(&mut tx, sql, user).await?;
        }
        if end_sessions {
            run_for_user(&mut tx, "DELETE FROM sessions WHERE user_id = $1", user).await?;
        }
        Ok(tx.commit().await?)
    }

    pub(crate) async fn replace_codes_once(
        &self,
        user: &UserId,
        digests: &[[u8; 32]],
        now: i64,
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        insert_recovery_codes(&mut tx, user, digests, now).await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn reseal_once(
        &self,
        rows: &[(CredentialId, Vec<u8>)],
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        for (id, blob) in rows {
            sqlx::query("UPDATE totp_credentials SET sealed_secret = $1 WHERE id = $2")
                .bind(blob)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx.commit().await?)
    }

    pub(crate) async fn device_sign_in_once(
        &self,
        device: &DeviceId,
        now: i64,
        ip: &str,
        session: &NewSession,
    ) -> Result<bool, TxError> {
        let mut tx = self.begin().await?;
        // Checked again here, not only by the caller's lookup: a device forgotten, expired or
        // belonging to someone else since then must not produce a session.
        let used = sqlx::query("UPDATE devices SET last_used_at = $1, last_ip = $2 WHERE id = $3 AND user_id = $4 AND expires_at > $1")
            .bind(now)
            .bind(ip)
            .bind(device.as_str())
            .bind(session.record.user_id.as_str())
            .execute(&mut *tx)
            .await?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        insert_session(&mut tx, session).await?;
        tx.commit().await?;
        Ok(true)
    }
}
