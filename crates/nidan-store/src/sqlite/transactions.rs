//! The multi-statement operations, each one job on the writer thread (one savepoint inside the
//! batch's transaction, see `engine.rs`).
//!
//! `settle_attempt` is the heart: it reserves the attempt with a compare-and-swap on the
//! account's failure count (a read and a conditional write: the writer thread is the only
//! writer), reserves one of the challenge's attempts, consumes the factor with a
//! conditional update, and on success clears the failures and creates the session — all or
//! nothing. Concurrent requests for the same code therefore produce exactly one success.

use nidan_service::StoreError;
use nidan_service::ports::{
    Attempt, Candidate, FirstMethod, NewActivity, NewDevice, NewSession, Settled,
};
use nidan_service::{CredentialId, UserId};
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::engine::Step;
use super::rows::{exec, one};

pub(crate) fn insert_session(c: &Connection, s: &NewSession) -> rusqlite::Result<()> {
    exec(
        c,
        "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.record.id.as_str(),
            &s.digest[..],
            s.record.user_id.as_str(),
            s.record.created_at,
            s.record.last_seen_at,
            s.record.ip,
            s.record.user_agent
        ],
    )
    .map(drop)
}

fn insert_device(c: &Connection, d: &NewDevice) -> rusqlite::Result<()> {
    exec(
        c,
        "INSERT INTO devices (id, digest, user_id, name, created_at, last_used_at, last_ip, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            d.record.id.as_str(),
            &d.digest[..],
            d.record.user_id.as_str(),
            d.record.name,
            d.record.created_at,
            d.record.last_used_at,
            d.record.last_ip,
            d.record.expires_at
        ],
    )
    .map(drop)
}

pub(crate) fn insert_recovery_codes(
    c: &Connection,
    user: &UserId,
    digests: &[[u8; 32]],
    now: i64,
) -> rusqlite::Result<()> {
    exec(
        c,
        "DELETE FROM recovery_codes WHERE user_id = ?1",
        [user.as_str()],
    )?;
    for d in digests {
        exec(
            c,
            "INSERT INTO recovery_codes (user_id, digest, created_at) VALUES (?1, ?2, ?3)",
            params![user.as_str(), &d[..], now],
        )?;
    }
    Ok(())
}

/// After a method is removed: when no confirmed method is left, two-step becomes `none` and
/// recovery codes, remembered devices and open challenges must not outlive it (the failure count
/// starts again from zero, as after `remove_two_step`); otherwise the default method moves to a
/// remaining one if it pointed at the removed kind.
pub(crate) fn after_method_removed(
    c: &Connection,
    user: &UserId,
    removed: &'static str,
) -> rusqlite::Result<()> {
    let remaining: Option<String> = one(
        c,
        "SELECT 'totp' FROM totp_credentials WHERE user_id = ?1 AND confirmed_at IS NOT NULL
         UNION ALL SELECT channel FROM oob_methods WHERE user_id = ?1 AND confirmed_at IS NOT NULL
         LIMIT 1",
        [user.as_str()],
        |r| r.get(0),
    )?;
    match remaining {
        None => {
            for sql in [
                "DELETE FROM recovery_codes WHERE user_id = ?1",
                "DELETE FROM devices WHERE user_id = ?1",
                "DELETE FROM challenges WHERE user_id = ?1",
                "DELETE FROM oob_codes WHERE user_id = ?1 AND used_at IS NULL",
                "UPDATE users SET two_step_enabled = 0, default_method = NULL, failed_attempts = 0, last_failure_at = NULL WHERE id = ?1",
            ] {
                exec(c, sql, [user.as_str()])?;
            }
        }
        Some(other) => {
            exec(
                c,
                "UPDATE users SET default_method = ?1 WHERE id = ?2 AND default_method = ?3",
                params![other, user.as_str(), removed],
            )?;
        }
    }
    Ok(())
}

/// After a method was confirmed: with `first` (the account's first method) two-step turns on with
/// its recovery codes and every other session ends; otherwise the method becomes the default if
/// the account had none.
pub(crate) fn method_confirmed(
    c: &Connection,
    user: &UserId,
    method: &str,
    first: Option<FirstMethod>,
    now: i64,
) -> rusqlite::Result<()> {
    let Some(first) = first else {
        exec(
            c,
            "UPDATE users SET default_method = COALESCE(default_method, ?1) WHERE id = ?2",
            params![method, user.as_str()],
        )?;
        return Ok(());
    };
    exec(
        c,
        "UPDATE users SET two_step_enabled = 1, default_method = ?1 WHERE id = ?2",
        params![first.default_method.as_str(), user.as_str()],
    )?;
    insert_recovery_codes(c, user, &first.recovery_digests, now)?;
    exec(
        c,
        "DELETE FROM sessions WHERE user_id = ?1 AND id <> COALESCE(?2, '')",
        params![
            user.as_str(),
            first.keep_session.as_ref().map(|s| s.as_str().to_owned())
        ],
    )?;
    exec(c, "DELETE FROM devices WHERE user_id = ?1", [user.as_str()])?;
    Ok(())
}

pub(crate) fn insert_activity(c: &Connection, e: &NewActivity) -> rusqlite::Result<()> {
    exec(
        c,
        "INSERT INTO activity (user_id, at, kind, method, result, ip, user_agent, detail, country) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            e.user_id.as_str(),
            e.at,
            e.kind,
            e.method.map(|m| m.as_str()),
            e.result,
            e.ip,
            e.user_agent,
            e.detail,
            e.country
        ],
    )
    .map(drop)
}

/// `settle_attempt`: the attempt, then its activity line when it settled.
fn settle_and_record(c: &Connection, a: &Attempt) -> rusqlite::Result<Step<Settled>> {
    let step = settle(c, a)?;
    if let Step::Commit(settled) = &step
        && let Some(event) = a.record_for(settled)
    {
        insert_activity(c, &event)?;
    }
    Ok(step)
}

/// The body of `settle_attempt` (see the module comment).
fn settle(c: &Connection, a: &Attempt) -> rusqlite::Result<Step<Settled>> {
    // The compare of the compare-and-swap. Jobs run one at a time inside the writer's
    // `BEGIN IMMEDIATE` transaction, so nothing can change the count between this read and the
    // writes below; the row is then written only when the count really changes (a right code on
    // an account without failures writes nothing here: one page less per verification).
    let failures: Option<i64> = one(
        c,
        "SELECT failed_attempts FROM users WHERE id = ?1",
        [a.user_id.as_str()],
        |r| r.get(0),
    )?;
    if failures != Some(i64::from(a.seen_failures)) {
        return Ok(Step::Rollback(Settled::Raced));
    }

    let mut attempts_left = None;
    if let Some(ch) = &a.challenge {
        let attempts: Option<i64> = one(
            c,
            "UPDATE challenges SET attempts = attempts + 1 WHERE digest = ?1 AND user_id = ?2 AND consumed_at IS NULL AND expires_at > ?3 AND attempts < ?4 RETURNING attempts",
            params![
                &ch.digest[..],
                a.user_id.as_str(),
                a.now,
                i64::from(ch.max_attempts)
            ],
            |r| r.get(0),
        )?;
        let Some(attempts) = attempts else {
            return Ok(Step::Rollback(Settled::ChallengeDead));
        };
        attempts_left = Some((i64::from(ch.max_attempts) - attempts).max(0) as u32);
    }

    let (accepted, replayed, is_recovery) = match &a.candidate {
        Candidate::TotpStep {
            credential_id,
            step,
        } => {
            let ok = exec(
                c,
                "UPDATE totp_credentials SET last_used_step = ?1 WHERE id = ?2 AND user_id = ?3 AND last_used_step < ?1",
                params![*step as i64, credential_id.as_str(), a.user_id.as_str()],
            )? == 1;
            (ok, !ok, false)
        }
        Candidate::RecoveryDigest(d) => {
            let ok = exec(
                c,
                "UPDATE recovery_codes SET used_at = ?1 WHERE user_id = ?2 AND digest = ?3 AND used_at IS NULL",
                params![a.now, a.user_id.as_str(), &d[..]],
            )? == 1;
            (ok, false, true)
        }
        Candidate::OobCode {
            code_id,
            digest,
            max_attempts,
        } => {
            // One try counted against the code itself, only while it is alive.
            let tried = exec(
                c,
                "UPDATE oob_codes SET attempts = attempts + 1 WHERE id = ?1 AND user_id = ?2 AND used_at IS NULL AND expires_at > ?3 AND attempts < ?4",
                params![code_id, a.user_id.as_str(), a.now, i64::from(*max_attempts)],
            )? == 1;
            let ok = tried
                && exec(
                    c,
                    "UPDATE oob_codes SET used_at = ?1 WHERE id = ?2 AND digest = ?3",
                    params![a.now, code_id, &digest[..]],
                )? == 1;
            (ok, false, false)
        }
        Candidate::Wrong => (false, false, false),
    };

    if !accepted {
        exec(
            c,
            "UPDATE users SET failed_attempts = failed_attempts + 1, last_failure_at = ?1 WHERE id = ?2",
            params![a.now, a.user_id.as_str()],
        )?;
        return Ok(Step::Commit(Settled::Rejected {
            failures: a.seen_failures.saturating_add(1),
            challenge_attempts_left: attempts_left,
            replayed,
        }));
    }

    // The count is `seen_failures` here; a count of 0 never has a failure time (both are set
    // and cleared together), so there is nothing to clear.
    if a.seen_failures != 0 {
        exec(
            c,
            "UPDATE users SET failed_attempts = 0, last_failure_at = NULL WHERE id = ?1",
            [a.user_id.as_str()],
        )?;
    }
    let recovery_codes_left = if is_recovery {
        Some(super::reads::recovery_codes_left(c, a.user_id.as_str())?)
    } else {
        None
    };
    if let Some(ch) = &a.challenge {
        exec(
            c,
            "UPDATE challenges SET consumed_at = ?1 WHERE digest = ?2",
            params![a.now, &ch.digest[..]],
        )?;
        insert_session(c, &ch.grant.session)?;
        if let Some(d) = &ch.grant.device {
            insert_device(c, d)?;
        }
    }
    Ok(Step::Commit(Settled::Accepted {
        recovery_codes_left,
    }))
}

impl SqliteStore {
    pub(crate) async fn settle(&self, a: Attempt) -> Result<Settled, StoreError> {
        // Without a savepoint: `settle` decides every rollback before its first write.
        self.engine
            .write_step_whole(move |c| settle_and_record(c, &a))
            .await
    }

    pub(crate) async fn activate(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: i64,
        first: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        let (user, credential) = (user.clone(), credential.clone());
        self.engine
            .write_step(move |c| {
                let confirmed = exec(
                    c,
                    "UPDATE totp_credentials SET confirmed_at = ?1 WHERE id = ?2 AND user_id = ?3 AND confirmed_at IS NULL",
                    params![now, credential.as_str(), user.as_str()],
                )?;
                if confirmed != 1 {
                    return Ok(Step::Rollback(false));
                }
                // A new app replaces the old one: its seed is destroyed.
                exec(
                    c,
                    "DELETE FROM totp_credentials WHERE user_id = ?1 AND id <> ?2",
                    [user.as_str(), credential.as_str()],
                )?;
                method_confirmed(c, &user, "totp", first, now)?;
                Ok(Step::Commit(true))
            })
            .await
    }

    pub(crate) async fn delete_totp_tx(&self, user: &UserId) -> Result<(), StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM totp_credentials WHERE user_id = ?1",
                    [user.as_str()],
                )?;
                after_method_removed(c, &user, "totp")
            })
            .await
    }

    pub(crate) async fn remove_all(
        &self,
        user: &UserId,
        end_sessions: bool,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                for sql in [
                    "DELETE FROM totp_credentials WHERE user_id = ?1",
                    "DELETE FROM oob_methods WHERE user_id = ?1",
                    "DELETE FROM oob_codes WHERE user_id = ?1 AND used_at IS NULL",
                    "DELETE FROM recovery_codes WHERE user_id = ?1",
                    "DELETE FROM devices WHERE user_id = ?1",
                    "DELETE FROM challenges WHERE user_id = ?1",
                    "UPDATE users SET two_step_enabled = 0, default_method = NULL, failed_attempts = 0, last_failure_at = NULL WHERE id = ?1",
                ] {
                    exec(c, sql, [user.as_str()])?;
                }
                if end_sessions {
                    exec(c, "DELETE FROM sessions WHERE user_id = ?1", [user.as_str()])?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn replace_codes(
        &self,
        user: &UserId,
        digests: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError> {
        let (user, digests) = (user.clone(), digests.to_vec());
        self.engine
            .write(move |c| insert_recovery_codes(c, &user, &digests, now))
            .await
    }

    pub(crate) async fn reseal(
        &self,
        rows: Vec<(CredentialId, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                for (id, blob) in &rows {
                    exec(
                        c,
                        "UPDATE totp_credentials SET sealed_secret = ?1 WHERE id = ?2",
                        params![blob, id.as_str()],
                    )?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn device_sign_in(
        &self,
        device: &nidan_service::DeviceId,
        now: i64,
        ip: &str,
        session: NewSession,
    ) -> Result<bool, StoreError> {
        let (device, ip) = (device.clone(), ip.to_owned());
        self.engine
            .write_step(move |c| {
                // Checked again here, not only by the caller's lookup: a device forgotten, expired
                // or belonging to someone else since then must not produce a session.
                let used = exec(
                    c,
                    "UPDATE devices SET last_used_at = ?1, last_ip = ?2 WHERE id = ?3 AND user_id = ?4 AND expires_at > ?1",
                    params![now, ip, device.as_str(), session.record.user_id.as_str()],
                )?;
                if used != 1 {
                    return Ok(Step::Rollback(false));
                }
                insert_session(c, &session)?;
                Ok(Step::Commit(true))
            })
            .await
    }
}
