//! Email and SMS methods, the codes sent to them, and the notice queue (SQLite).
//!
//! `issue_code` checks the sending limits and stores the new code in one `BEGIN IMMEDIATE`
//! transaction, so parallel requests cannot send more than allowed; the code it replaces dies in
//! the same transaction and hands over its count of wrong tries (a resend never resets it).

use nidan_service::StoreError;
use nidan_service::courier::Channel;
use nidan_service::ports::{
    ChallengeRecord, CodeBinding, FirstMethod, Issued, NewNotice, OobCode, OobMethod, QueuedNotice,
    SendCap, SendLimits,
};
use nidan_service::{CredentialId, UnixTime, UserId};
use rusqlite::params;

use super::SqliteStore;
use super::engine::Step;
use super::rows::{self, all, exec, one};
use super::transactions::{after_method_removed, method_confirmed};
use crate::send_caps;

impl SqliteStore {
    pub(crate) async fn put_pending_oob_tx(&self, m: OobMethod) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                let channel = rows::channel_name(m.channel);
                let old: Vec<String> = all(
                    c,
                    "SELECT id FROM oob_methods WHERE user_id = ?1 AND channel = ?2 AND confirmed_at IS NULL",
                    [m.user_id.as_str(), channel],
                    |r| r.get(0),
                )?;
                for id in old {
                    exec(
                        c,
                        "UPDATE oob_codes SET used_at = ?1 WHERE binding_kind = 'enrolment' AND binding = ?2 AND used_at IS NULL",
                        params![m.created_at, id],
                    )?;
                    exec(c, "DELETE FROM oob_methods WHERE id = ?1", [&id])?;
                }
                exec(
                    c,
                    "INSERT INTO oob_methods (id, user_id, channel, destination, confirmed_at, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                    params![m.id.as_str(), m.user_id.as_str(), channel, m.destination, m.created_at],
                )?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn oob_methods_of(&self, user: &UserId) -> Result<Vec<OobMethod>, StoreError> {
        self.engine
            .read(|c| super::reads::oob_methods(c, user.as_str()))
    }

    pub(crate) async fn activate_oob_tx(
        &self,
        user: &UserId,
        method: &CredentialId,
        now: UnixTime,
        first: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        let (user, method) = (user.clone(), method.clone());
        self.engine
            .write_step(move |c| {
                let channel: Option<String> = one(
                    c,
                    "UPDATE oob_methods SET confirmed_at = ?1 WHERE id = ?2 AND user_id = ?3 AND confirmed_at IS NULL RETURNING channel",
                    params![now, method.as_str(), user.as_str()],
                    |r| r.get(0),
                )?;
                let Some(channel) = channel else {
                    return Ok(Step::Rollback(false));
                };
                // A new number or address replaces the old one of its channel.
                exec(
                    c,
                    "DELETE FROM oob_methods WHERE user_id = ?1 AND channel = ?2 AND id <> ?3",
                    params![user.as_str(), channel, method.as_str()],
                )?;
                method_confirmed(c, &user, &channel, first, now)?;
                Ok(Step::Commit(true))
            })
            .await
    }

    pub(crate) async fn delete_oob_tx(
        &self,
        user: &UserId,
        channel: Channel,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                let name = rows::channel_name(channel);
                exec(
                    c,
                    "DELETE FROM oob_methods WHERE user_id = ?1 AND channel = ?2",
                    [user.as_str(), name],
                )?;
                exec(
                    c,
                    "UPDATE oob_codes SET used_at = COALESCE(used_at, created_at) WHERE user_id = ?1 AND channel = ?2",
                    [user.as_str(), name],
                )?;
                after_method_removed(c, &user, name)
            })
            .await
    }

    pub(crate) async fn issue_code_tx(
        &self,
        code: OobCode,
        limits: SendLimits,
    ) -> Result<Issued, StoreError> {
        self.engine
            .write_step(move |c| issue_code(c, &code, &limits))
            .await
    }

    pub(crate) async fn discard_code_tx(&self, code_id: &str) -> Result<(), StoreError> {
        let code_id = code_id.to_owned();
        self.engine
            .write(move |c| exec(c, "DELETE FROM oob_codes WHERE id = ?1", [&code_id]).map(drop))
            .await
    }

    pub(crate) async fn live_code_of(
        &self,
        user: &UserId,
        binding: &CodeBinding,
    ) -> Result<Option<OobCode>, StoreError> {
        let (kind, value) = rows::binding_parts(binding);
        self.engine.read(|c| {
            one(
                c,
                "SELECT * FROM oob_codes WHERE user_id = ?1 AND binding_kind = ?2 AND binding = ?3 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1",
                params![user.as_str(), kind, value],
                |r| rows::oob_code(r, binding.clone()),
            )
        })
    }

    pub(crate) async fn enqueue_notice_tx(&self, n: NewNotice) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO notices (user_id, kind, at, ip, user_agent, country, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3)",
                    params![n.user_id.as_str(), n.kind, n.at, n.ip, n.user_agent, n.country],
                )
                .map(drop)
            })
            .await
    }

    pub(crate) async fn due_notices_of(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueuedNotice>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT n.id, u.email, u.locale, n.kind, n.at, n.ip, n.user_agent, n.country, n.attempts
                 FROM notices n JOIN users u ON u.id = n.user_id
                 WHERE n.sent_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= ?1
                 ORDER BY n.next_attempt_at, n.id LIMIT ?2",
                params![now, i64::from(limit)],
                rows::queued_notice,
            )
        })
    }

    pub(crate) async fn notice_done(&self, id: i64, now: UnixTime) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE notices SET sent_at = ?1, attempts = attempts + 1 WHERE id = ?2",
                    params![now, id],
                )
                .map(drop)
            })
            .await
    }

    pub(crate) async fn notice_retry(
        &self,
        id: i64,
        retry_at: Option<UnixTime>,
        error: &str,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.engine
            .write(move |c| {
                match retry_at {
                    Some(at) => exec(
                        c,
                        "UPDATE notices SET attempts = attempts + 1, next_attempt_at = ?1, last_error = ?2 WHERE id = ?3",
                        params![at, error, id],
                    ),
                    None => exec(
                        c,
                        "UPDATE notices SET attempts = attempts + 1, failed_at = next_attempt_at, last_error = ?1 WHERE id = ?2",
                        params![error, id],
                    ),
                }
                .map(drop)
            })
            .await
    }

    pub(crate) async fn unfinished_of(
        &self,
        cutoff: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChallengeRecord>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT * FROM challenges WHERE created_at <= ?1 AND consumed_at IS NULL AND reported_at IS NULL ORDER BY created_at LIMIT ?2",
                params![cutoff, i64::from(limit)],
                rows::challenge,
            )
        })
    }

    pub(crate) async fn mark_reported(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let digest = *digest;
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE challenges SET reported_at = ?1 WHERE digest = ?2",
                    params![now, &digest[..]],
                )
                .map(drop)
            })
            .await
    }

    pub(crate) async fn purge(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.engine
            .write(move |c| {
                let mut n = 0u64;
                // Challenges are kept until reported (or consumed), so the unfinished-sign-in
                // notice cannot be lost to the sweep.
                for sql in [
                    "DELETE FROM challenges WHERE expires_at < ?1 AND (consumed_at IS NOT NULL OR reported_at IS NOT NULL)",
                    "DELETE FROM oob_codes WHERE created_at < ?1 - 86400",
                    "DELETE FROM devices WHERE expires_at < ?1",
                    "DELETE FROM notices WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND at < ?1 - 30 * 86400",
                ] {
                    n += exec(c, sql, [before])? as u64;
                }
                Ok(n)
            })
            .await
    }

    pub(crate) async fn set_user_field(
        &self,
        sql: &'static str,
        user: &UserId,
        value: &str,
    ) -> Result<(), StoreError> {
        let (user, value) = (user.clone(), value.to_owned());
        self.engine
            .write(move |c| exec(c, sql, [value.as_str(), user.as_str()]).map(drop))
            .await
    }
}

/// Checks the sending limits and stores the new code (see the module comment).
fn issue_code(
    c: &rusqlite::Connection,
    code: &OobCode,
    limits: &SendLimits,
) -> rusqlite::Result<Step<Issued>> {
    let (kind, binding) = rows::binding_parts(&code.binding);
    let now = code.created_at;
    let live: Option<(String, i64, i64)> = one(
        c,
        "SELECT id, created_at, attempts FROM oob_codes WHERE binding_kind = ?1 AND binding = ?2 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1",
        params![kind, binding],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let Some((_, sent_at, _)) = &live {
        let wait = sent_at + limits.min_interval_secs - now;
        if wait > 0 {
            return Ok(Step::Rollback(Issued::TooSoon {
                retry_after: wait as u64,
                cap: SendCap::Interval,
            }));
        }
    }
    let p = send_caps::CountParams::of(code);
    let counts = all(
        c,
        send_caps::COUNTS::SQLITE,
        params![
            p.user,
            p.since_15min,
            p.since_day,
            p.since_hour,
            p.destination,
            p.client,
            p.channel
        ],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let Some(refused) = send_caps::refusal(code, limits, &counts) {
        return Ok(Step::Rollback(refused));
    }
    let mut attempts = i64::from(code.attempts);
    if let Some((old_id, _, old_attempts)) = live {
        attempts = attempts.max(old_attempts);
        exec(
            c,
            "UPDATE oob_codes SET used_at = ?1 WHERE id = ?2",
            params![now, old_id],
        )?;
    }
    exec(
        c,
        "INSERT INTO oob_codes (id, user_id, binding_kind, binding, channel, destination, digest, created_at, expires_at, attempts, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            code.id,
            code.user_id.as_str(),
            kind,
            binding,
            rows::channel_name(code.channel),
            code.destination,
            &code.digest[..],
            now,
            code.expires_at,
            attempts,
            code.client
        ],
    )?;
    Ok(Step::Commit(Issued::Issued))
}
