//! `Store` for PostgreSQL: single statements here, transactions in `transactions.rs`.

use async_trait::async_trait;
use nidan_domain::Method;
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::{
    AccountForCheck, ActivityRecord, ApiKeyRecord, Attempt, ChallengeRecord, CodeBinding,
    DeviceRecord, FirstMethod, ImportRow, Issued, NewActivity, NewNotice, NewSession, NewUser,
    OobCode, OobMethod, PasswordFailures, QueuedNotice, SendLimits, SessionRecord, Settled, Store,
    TotpCredential, UserRecord,
};
use nidan_service::{CredentialId, DeviceId, SessionId, StoreError, UnixTime, UserId};

use super::{PgStore, map, retrying, rows};
use crate::account_check::CheckRow;
use crate::password_failures;
use sqlx::Row as _;

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO users (id, email, password_hash, locale, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(u.id.as_str())
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(u.locale.as_str())
            .bind(u.created_at)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError> {
        super::import::user_ids_by_email(&self.pool, emails).await
    }

    async fn set_password_hash(&self, id: &UserId, hash: Option<String>) -> Result<(), StoreError> {
        retrying!(self.set_password_once(id, hash.as_deref()))
    }

    async fn set_two_step_enabled(
        &self,
        id: &UserId,
        enabled: bool,
        keep_session: Option<&SessionId>,
    ) -> Result<(), StoreError> {
        retrying!(self.set_two_step_once(id, enabled, keep_session))
    }

    async fn put_pending_totp(&self, c: TotpCredential) -> Result<(), StoreError> {
        retrying!(self.put_pending_totp_once(&c))
    }

    async fn pending_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        let row = sqlx::query("SELECT * FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NULL ORDER BY created_at DESC LIMIT 1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::totp).transpose()
    }

    async fn account_for_check(&self, email: &str) -> Result<Option<AccountForCheck>, StoreError> {
        // One round trip, a second one only when the account has email or SMS methods (see
        // `CheckRow`).
        let row = sqlx::query(
            "SELECT u.*,
                t.id AS t_id, t.sealed_secret AS t_sealed_secret, t.last_used_step AS t_last_used_step,
                t.confirmed_at AS t_confirmed_at, t.created_at AS t_created_at,
                (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS recovery_left,
                EXISTS (SELECT 1 FROM oob_methods o WHERE o.user_id = u.id) AS has_oob
             FROM users u
             LEFT JOIN LATERAL (
                SELECT * FROM totp_credentials WHERE user_id = u.id AND confirmed_at IS NOT NULL
                ORDER BY confirmed_at DESC LIMIT 1
             ) t ON true
             WHERE u.email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = rows::user(&row)?;
        let row = CheckRow {
            totp: rows::joined_totp(&row, &user.id)?,
            recovery_left: row.try_get("recovery_left").map_err(map)?,
            has_oob: row.try_get("has_oob").map_err(map)?,
            user,
        };
        let oob = if row.has_oob {
            self.oob_methods_of(&row.user.id).await?
        } else {
            Vec::new()
        };
        Ok(Some(row.into_account(oob)))
    }

    async fn active_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        let row = sqlx::query("SELECT * FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY confirmed_at DESC LIMIT 1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::totp).transpose()
    }

    async fn activate_totp(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: UnixTime,
        first: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        retrying!(self.activate_once(user, credential, now, first.as_ref()))
    }

    async fn delete_totp(&self, user: &UserId) -> Result<(), StoreError> {
        retrying!(self.delete_totp_once(user))
    }

    async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
        retrying!(self.import_once(&rows))
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<(CredentialId, UserId, Vec<u8>)>, StoreError> {
        let found: Vec<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT id, user_id, sealed_secret FROM totp_credentials")
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        Ok(found
            .into_iter()
            .map(|(c, u, b)| (CredentialId::new(c), UserId::new(u), b))
            .collect())
    }

    async fn reseal_secrets(&self, rows: Vec<(CredentialId, Vec<u8>)>) -> Result<(), StoreError> {
        retrying!(self.reseal_once(&rows))
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<[u8; 32]>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        retrying!(self.replace_codes_once(user, &digests, now))
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(map)?;
        Ok(n as u32)
    }

    async fn settle_attempt(&self, attempt: Attempt) -> Result<Settled, StoreError> {
        retrying!(self.settle_once(&attempt))
    }

    async fn remove_two_step(&self, user: &UserId, end_sessions: bool) -> Result<(), StoreError> {
        retrying!(self.remove_all_once(user, end_sessions))
    }

    async fn create_challenge(&self, c: ChallengeRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO challenges (digest, user_id, created_at, expires_at, attempts, consumed_at, ip, user_agent) VALUES ($1, $2, $3, $4, 0, NULL, $5, $6)")
            .bind(&c.digest[..])
            .bind(c.user_id.as_str())
            .bind(c.created_at)
            .bind(c.expires_at)
            .bind(&c.ip)
            .bind(&c.user_agent)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn challenge_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM challenges WHERE digest = $1")
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::challenge).transpose()
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(s.record.id.as_str())
            .bind(&s.digest[..])
            .bind(s.record.user_id.as_str())
            .bind(s.record.created_at)
            .bind(s.record.last_seen_at)
            .bind(&s.record.ip)
            .bind(&s.record.user_agent)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn session_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE digest = $1")
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn list_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let found =
            sqlx::query("SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        found.iter().map(rows::session).collect()
    }

    async fn delete_session(&self, user: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(r.rows_affected() == 1)
    }

    async fn device_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM devices WHERE digest = $1")
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::device).transpose()
    }

    async fn sign_in_with_device(
        &self,
        device: &DeviceId,
        now: UnixTime,
        ip: &str,
        session: NewSession,
    ) -> Result<bool, StoreError> {
        retrying!(self.device_sign_in_once(device, now, ip, &session))
    }

    async fn list_devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        let found =
            sqlx::query("SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at DESC, id")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        found.iter().map(rows::device).collect()
    }

    async fn delete_device(&self, user: &UserId, id: &DeviceId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_devices(&self, user: &UserId) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM devices WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(r.rows_affected())
    }

    async fn append_activity(&self, e: NewActivity) -> Result<(), StoreError> {
        super::transactions::insert_activity(&self.pool, &e)
            .await
            .map_err(map)
    }

    async fn list_activity(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM activity WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(user.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found.iter().map(rows::activity).collect()
    }

    async fn create_api_key(&self, key: ApiKeyRecord, digest: [u8; 32]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, name, digest, created_at) VALUES ($1, $2, $3, $4)")
            .bind(key.id.as_str())
            .bind(&key.name)
            .bind(&digest[..])
            .bind(key.created_at)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn api_key_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE digest = $1 AND revoked_at IS NULL")
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn revoke_api_key(&self, name: &str, now: UnixTime) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(r.rows_affected() == 1)
    }

    async fn put_pending_oob(&self, method: OobMethod) -> Result<(), StoreError> {
        retrying!(self.put_pending_oob_once(&method))
    }

    async fn oob_methods(&self, user: &UserId) -> Result<Vec<OobMethod>, StoreError> {
        self.oob_methods_of(user).await
    }

    async fn activate_oob(
        &self,
        user: &UserId,
        method: &CredentialId,
        now: UnixTime,
        first: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        retrying!(self.activate_oob_once(user, method, now, first.as_ref()))
    }

    async fn delete_oob(&self, user: &UserId, channel: Channel) -> Result<(), StoreError> {
        retrying!(self.delete_oob_once(user, channel))
    }

    async fn set_default_method(&self, user: &UserId, method: Method) -> Result<(), StoreError> {
        self.set_user_field(
            "UPDATE users SET default_method = $1 WHERE id = $2",
            user,
            method.as_str(),
        )
        .await
    }

    async fn set_locale(&self, user: &UserId, locale: Locale) -> Result<(), StoreError> {
        self.set_user_field(
            "UPDATE users SET locale = $1 WHERE id = $2",
            user,
            locale.as_str(),
        )
        .await
    }

    async fn issue_code(&self, code: OobCode, limits: SendLimits) -> Result<Issued, StoreError> {
        retrying!(self.issue_code_once(&code, limits))
    }

    async fn discard_code(&self, code_id: &str) -> Result<(), StoreError> {
        self.discard_code_tx(code_id).await
    }

    async fn live_code(
        &self,
        user: &UserId,
        binding: &CodeBinding,
    ) -> Result<Option<OobCode>, StoreError> {
        self.live_code_of(user, binding).await
    }

    async fn password_failures(&self, subject: &[u8; 32]) -> Result<PasswordFailures, StoreError> {
        let found: Option<(i64, i64)> = sqlx::query_as(password_failures::READ::PG)
            .bind(&subject[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        Ok(found
            .map(|(failures, last_failure_at)| PasswordFailures {
                failures: failures.clamp(0, i64::from(u32::MAX)) as u32,
                last_failure_at,
            })
            .unwrap_or_default())
    }

    async fn reserve_password_attempt(
        &self,
        subject: &[u8; 32],
        seen: PasswordFailures,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(password_failures::RESERVE::PG)
            .bind(&subject[..])
            .bind(now)
            .bind(i64::from(seen.failures))
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn clear_password_failures(&self, subject: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query(password_failures::CLEAR::PG)
            .bind(&subject[..])
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn enqueue_notice(&self, notice: NewNotice) -> Result<(), StoreError> {
        self.enqueue_notice_tx(notice).await
    }

    async fn due_notices(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueuedNotice>, StoreError> {
        self.due_notices_of(now, limit).await
    }

    async fn notice_sent(&self, id: i64, now: UnixTime) -> Result<(), StoreError> {
        self.notice_done(id, now).await
    }

    async fn notice_failed(
        &self,
        id: i64,
        retry_at: Option<UnixTime>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.notice_retry(id, retry_at, error).await
    }

    async fn unfinished_challenges(
        &self,
        cutoff: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChallengeRecord>, StoreError> {
        self.unfinished_of(cutoff, limit).await
    }

    async fn mark_challenge_reported(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.mark_reported(digest, now).await
    }

    async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        retrying!(self.purge_once(before))
    }
}
