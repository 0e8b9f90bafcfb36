//! Email and SMS methods, the codes sent to them, and the notice queue (PostgreSQL).
//!
//! `issue_code` checks the sending limits (`send_caps`) and stores the new code in one
//! transaction that holds the account's row lock (so parallel sends for one account on any node
//! queue up) and, for a destination not yet confirmed, a transaction-scoped advisory lock on the
//! channel (so the per-client and overall caps hold across accounts and nodes). The code it
//! replaces dies in the same transaction and hands over its count of wrong tries (a resend never
//! resets it).
//!
//! The notice queue is read by every node's worker, so `due_notices` claims what it returns
//! (`FOR UPDATE SKIP LOCKED` and a lease), and a notice goes out once, not once per node.

use nidan_service::StoreError;
use nidan_service::courier::Channel;
use nidan_service::ports::{
    ChallengeRecord, CodeBinding, FirstMethod, Issued, NewNotice, OobCode, OobMethod, QueuedNotice,
    SendCap, SendLimits,
};
use nidan_service::{CredentialId, UnixTime, UserId};

use super::transactions::{after_method_removed, first_method_or_default};
use super::{PgStore, TxError, lock_user, map, rows};
use crate::send_caps;

/// Seconds a node holds the notices it took from the queue before another node may take them.
const NOTICE_LEASE: i64 = 300;

impl PgStore {
    pub(crate) async fn put_pending_oob_once(&self, m: &OobMethod) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, &m.user_id).await?;
        let channel = rows::channel_name(m.channel);
        let old: Vec<String> = sqlx::query_scalar("SELECT id FROM oob_methods WHERE user_id = $1 AND channel = $2 AND confirmed_at IS NULL")
            .bind(m.user_id.as_str())
            .bind(channel)
            .fetch_all(&mut *tx)
            .await?;
        for id in old {
            sqlx::query("UPDATE oob_codes SET used_at = $1 WHERE binding_kind = 'enrolment' AND binding = $2 AND used_at IS NULL")
                .bind(m.created_at)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM oob_methods WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO oob_methods (id, user_id, channel, destination, confirmed_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)")
            .bind(m.id.as_str())
            .bind(m.user_id.as_str())
            .bind(channel)
            .bind(&m.destination)
            .bind(m.created_at)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn oob_methods_of(&self, user: &UserId) -> Result<Vec<OobMethod>, StoreError> {
        let found =
            sqlx::query("SELECT * FROM oob_methods WHERE user_id = $1 ORDER BY created_at, id")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        found.iter().map(rows::oob_method).collect()
    }

    pub(crate) async fn activate_oob_once(
        &self,
        user: &UserId,
        method: &CredentialId,
        now: UnixTime,
        first: Option<&FirstMethod>,
    ) -> Result<bool, TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        let channel: Option<String> = sqlx::query_scalar(
            "UPDATE oob_methods SET confirmed_at = $1 WHERE id = $2 AND user_id = $3 AND confirmed_at IS NULL RETURNING channel",
        )
        .bind(now)
        .bind(method.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(channel) = channel else {
            return Ok(false);
        };
        // A new number or address replaces the old one of its channel.
        sqlx::query("DELETE FROM oob_methods WHERE user_id = $1 AND channel = $2 AND id <> $3")
            .bind(user.as_str())
            .bind(&channel)
            .bind(method.as_str())
            .execute(&mut *tx)
            .await?;
        first_method_or_default(&mut tx, user, now, first, &channel).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn delete_oob_once(
        &self,
        user: &UserId,
        channel: Channel,
    ) -> Result<(), TxError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user).await?;
        let name = rows::channel_name(channel);
        sqlx::query("DELETE FROM oob_methods WHERE user_id = $1 AND channel = $2")
            .bind(user.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE oob_codes SET used_at = COALESCE(used_at, created_at) WHERE user_id = $1 AND channel = $2")
            .bind(user.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        after_method_removed(&mut tx, user, name).await?;
        Ok(tx.commit().await?)
    }

    pub(crate) async fn issue_code_once(
        &self,
        code: &OobCode,
        limits: SendLimits,
    ) -> Result<Issued, TxError> {
        let mut tx = self.begin().await?;
        // Sends for one account queue up here (all nodes); sends to destinations not yet
        // confirmed queue up per channel too, so the per-client and overall caps hold.
        lock_user(&mut tx, &code.user_id).await?;
        if send_caps::unconfirmed(code) {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                .bind(format!(
                    "unconfirmed-sends-{}",
                    rows::channel_name(code.channel)
                ))
                .execute(&mut *tx)
                .await?;
        }
        let (kind, binding) = rows::binding_parts(&code.binding);
        let now = code.created_at;
        let live: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT id, created_at, attempts FROM oob_codes WHERE binding_kind = $1 AND binding = $2 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1",
        )
        .bind(kind)
        .bind(&binding)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((_, sent_at, _)) = &live {
            let wait = sent_at + limits.min_interval_secs - now;
            if wait > 0 {
                return Ok(Issued::TooSoon {
                    retry_after: wait as u64,
                    cap: SendCap::Interval,
                });
            }
        }
        let p = send_caps::CountParams::of(code);
        let counts: Vec<(i32, i64, Option<i64>)> = sqlx::query_as(send_caps::COUNTS::PG)
            .bind(p.user)
            .bind(p.since_15min)
            .bind(p.since_day)
            .bind(p.since_hour)
            .bind(p.destination)
            .bind(p.client)
            .bind(p.channel)
            .fetch_all(&mut *tx)
            .await?;
        let counts: Vec<(i64, i64, Option<i64>)> = counts
            .into_iter()
            .map(|(which, n, oldest)| (i64::from(which), n, oldest))
            .collect();
        if let Some(refused) = send_caps::refusal(code, &limits, &counts) {
            return Ok(refused);
        }
        let mut attempts = i64::from(code.attempts);
        if let Some((old_id, _, old_attempts)) = live {
            attempts = attempts.max(old_attempts);
            sqlx::query("UPDATE oob_codes SET used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&old_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO oob_codes (id, user_id, binding_kind, binding, channel, destination, digest, created_at, expires_at, attempts, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&code.id)
        .bind(code.user_id.as_str())
        .bind(kind)
        .bind(&binding)
        .bind(rows::channel_name(code.channel))
        .bind(&code.destination)
        .bind(&code.digest[..])
        .bind(now)
        .bind(code.expires_at)
        .bind(attempts)
        .bind(&code.client)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Issued::Issued)
    }

    pub(crate) async fn discard_code_tx(&self, code_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oob_codes WHERE id = $1")
            .bind(code_id)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn live_code_of(
        &self,
        user: &UserId,
        binding: &CodeBinding,
    ) -> Result<Option<OobCode>, StoreError> {
        let (kind, value) = rows::binding_parts(binding);
        let row = sqlx::query(
            "SELECT * FROM oob_codes WHERE user_id = $1 AND binding_kind = $2 AND binding = $3 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user.as_str())
        .bind(kind)
        .bind(&value)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        row.as_ref()
            .map(|r| rows::oob_code(r, binding.clone()))
            .transpose()
    }

    pub(crate) async fn enqueue_notice_tx(&self, n: NewNotice) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO notices (user_id, kind, at, ip, user_agent, country, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $3)")
            .bind(n.user_id.as_str())
            .bind(&n.kind)
            .bind(n.at)
            .bind(&n.ip)
            .bind(&n.user_agent)
            .bind(&n.country)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    /// Due notices, claimed for this node: several nodes run the notice worker, so the rows
    /// handed out are leased (their next attempt moved [`NOTICE_LEASE`] ahead, rows another node
    /// is claiming skipped) and two nodes never send the same notice at once. A notice whose
    /// node dies before marking it comes due again when the lease ends.
    pub(crate) async fn due_notices_of(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueuedNotice>, StoreError> {
        let found = sqlx::query(
            "WITH claimed AS (
                 UPDATE notices SET next_attempt_at = $1 + $3
                 WHERE id IN (
                     SELECT id FROM notices
                     WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                     ORDER BY next_attempt_at, id LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, user_id, kind, at, ip, user_agent, country, attempts)
             SELECT c.id, u.email, u.locale, c.kind, c.at, c.ip, c.user_agent, c.country, c.attempts
             FROM claimed c JOIN users u ON u.id = c.user_id
             ORDER BY c.id",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(NOTICE_LEASE)
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found.iter().map(rows::queued_notice).collect()
    }

    pub(crate) async fn notice_done(&self, id: i64, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE notices SET sent_at = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn notice_retry(
        &self,
        id: i64,
        retry_at: Option<UnixTime>,
        error: &str,
    ) -> Result<(), StoreError> {
        let q = match retry_at {
            Some(at) => sqlx::query("UPDATE notices SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3").bind(at),
            None => sqlx::query("UPDATE notices SET attempts = attempts + 1, failed_at = next_attempt_at, last_error = $1 WHERE id = $2"),
        };
        q.bind(error)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn unfinished_of(
        &self,
        cutoff: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChallengeRecord>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM challenges WHERE created_at <= $1 AND consumed_at IS NULL AND reported_at IS NULL ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found.iter().map(rows::challenge).collect()
    }

    pub(crate) async fn mark_reported(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE challenges SET reported_at = $1 WHERE digest = $2")
            .bind(now)
            .bind(&digest[..])
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn purge_once(&self, before: UnixTime) -> Result<u64, TxError> {
        let mut tx = self.begin().await?;
        let mut n = 0;
        // Challenges are kept until reported (or consumed), so the unfinished-sign-in notice
        // cannot be lost to the sweep.
        for sql in [
            "DELETE FROM challenges WHERE expires_at < $1 AND (consumed_at IS NOT NULL OR reported_at IS NOT NULL)",
            "DELETE FROM oob_codes WHERE created_at < $1 - 86400",
            "DELETE FROM devices WHERE expires_at < $1",
            "DELETE FROM notices WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND at < $1 - 30 * 86400",
        ] {
            n += sqlx::query(sql)
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) async fn set_user_field(
        &self,
        sql: &'static str,
        user: &UserId,
        value: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(value)
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }
}
