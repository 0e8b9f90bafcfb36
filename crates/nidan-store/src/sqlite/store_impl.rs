//! `Store` for SQLite: single statements here, transactions in `transactions.rs`.
//!
//! Reads run on the caller's thread (`engine.read`), writes on the writer thread
//! (`engine.write`); see `engine.rs`.

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
use rusqlite::params;

use super::rows::{self, all, exec, one};
use super::transactions::{insert_activity, insert_session};
use super::{SqliteStore, reads};
use crate::password_failures;

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.engine
            .read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO users (id, email, password_hash, locale, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![u.id.as_str(), u.email, u.password_hash, u.locale.as_str(), u.created_at],
                )
                .map(drop)
            })
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.engine.read(|c| reads::user_by_email(c, email))
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.engine.read(|c| {
            one(
                c,
                rows::select_user!("WHERE id = ?1"),
                [id.as_str()],
                rows::user,
            )
        })
    }

    async fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError> {
        self.engine
            .read_snapshot(|c| super::import::user_ids_by_email(c, emails))
    }

    async fn set_password_hash(&self, id: &UserId, hash: Option<String>) -> Result<(), StoreError> {
        let id = id.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                    params![hash, id.as_str()],
                )?;
                exec(c, "DELETE FROM devices WHERE user_id = ?1", [id.as_str()])?;
                Ok(())
            })
            .await
    }

    async fn set_two_step_enabled(
        &self,
        id: &UserId,
        enabled: bool,
        keep_session: Option<&SessionId>,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        let keep = keep_session.map(|s| s.as_str().to_owned());
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE users SET two_step_enabled = ?1 WHERE id = ?2",
                    params![enabled, id.as_str()],
                )?;
                exec(c, "DELETE FROM devices WHERE user_id = ?1", [id.as_str()])?;
                if enabled {
                    exec(
                        c,
                        "DELETE FROM sessions WHERE user_id = ?1 AND id <> COALESCE(?2, '')",
                        params![id.as_str(), keep],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn put_pending_totp(&self, t: TotpCredential) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(c, "DELETE FROM totp_credentials WHERE user_id = ?1 AND confirmed_at IS NULL", [t.user_id.as_str()])?;
                exec(c, "INSERT INTO totp_credentials (id, user_id, sealed_secret, last_used_step, confirmed_at, created_at) VALUES (?1, ?2, ?3, -1, NULL, ?4)",
                    params![t.id.as_str(), t.user_id.as_str(), t.sealed_secret, t.created_at])?;
                Ok(())
            })
            .await
    }

    async fn pending_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        self.engine.read(|c| {
            one(c, "SELECT * FROM totp_credentials WHERE user_id = ?1 AND confirmed_at IS NULL ORDER BY created_at DESC LIMIT 1", [user.as_str()], rows::totp)
        })
    }

    async fn active_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        self.engine.read(|c| reads::active_totp(c, user.as_str()))
    }

    async fn activate_totp(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: UnixTime,
        first: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        self.activate(user, credential, now, first).await
    }

    async fn delete_totp(&self, user: &UserId) -> Result<(), StoreError> {
        self.delete_totp_tx(user).await
    }

    async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
        self.import(rows).await
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<(CredentialId, UserId, Vec<u8>)>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT id, user_id, sealed_secret FROM totp_credentials",
                [],
                |r| {
                    Ok((
                        CredentialId::new(r.get::<_, String>(0)?),
                        UserId::new(r.get::<_, String>(1)?),
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
        })
    }

    async fn reseal_secrets(&self, rows: Vec<(CredentialId, Vec<u8>)>) -> Result<(), StoreError> {
        self.reseal(rows).await
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<[u8; 32]>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.replace_codes(user, &digests, now).await
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError> {
        self.engine
            .read(|c| reads::recovery_codes_left(c, user.as_str()))
    }

    async fn account_for_check(&self, email: &str) -> Result<Option<AccountForCheck>, StoreError> {
        // On the writer: every check is followed by its settling write (see `read_on_writer`).
        let email = email.to_owned();
        self.engine
            .read_on_writer(move |c| reads::account_for_check(c, &email))
            .await
    }

    async fn settle_attempt(&self, attempt: Attempt) -> Result<Settled, StoreError> {
        self.settle(attempt).await
    }

    async fn remove_two_step(&self, user: &UserId, end_sessions: bool) -> Result<(), StoreError> {
        self.remove_all(user, end_sessions).await
    }

    async fn create_challenge(&self, ch: ChallengeRecord) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(c, "INSERT INTO challenges (digest, user_id, created_at, expires_at, attempts, consumed_at, ip, user_agent) VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6)",
                    params![&ch.digest[..], ch.user_id.as_str(), ch.created_at, ch.expires_at, ch.ip, ch.user_agent]).map(drop)
            })
            .await
    }

    async fn challenge_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        self.engine.read(|c| {
            one(
                c,
                "SELECT * FROM challenges WHERE digest = ?1",
                [&digest[..]],
                rows::challenge,
            )
        })
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        self.engine.write(move |c| insert_session(c, &s)).await
    }

    async fn session_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.engine.read(|c| {
            one(
                c,
                "SELECT * FROM sessions WHERE digest = ?1",
                [&digest[..]],
                rows::session,
            )
        })
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        let id = id.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2",
                    params![now, id.as_str()],
                )
                .map(drop)
            })
            .await
    }

    async fn list_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT * FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC, id",
                [user.as_str()],
                rows::session,
            )
        })
    }

    async fn delete_session(&self, user: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let (user, id) = (user.clone(), id.clone());
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
                    [id.as_str(), user.as_str()],
                )
                .map(|n| n == 1)
            })
            .await
    }

    async fn device_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<DeviceRecord>, StoreError> {
        self.engine.read(|c| {
            one(
                c,
                "SELECT * FROM devices WHERE digest = ?1",
                [&digest[..]],
                rows::device,
            )
        })
    }

    async fn sign_in_with_device(
        &self,
        device: &DeviceId,
        now: UnixTime,
        ip: &str,
        session: NewSession,
    ) -> Result<bool, StoreError> {
        self.device_sign_in(device, now, ip, session).await
    }

    async fn list_devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT * FROM devices WHERE user_id = ?1 ORDER BY created_at DESC, id",
                [user.as_str()],
                rows::device,
            )
        })
    }

    async fn delete_device(&self, user: &UserId, id: &DeviceId) -> Result<bool, StoreError> {
        let (user, id) = (user.clone(), id.clone());
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM devices WHERE id = ?1 AND user_id = ?2",
                    [id.as_str(), user.as_str()],
                )
                .map(|n| n == 1)
            })
            .await
    }

    async fn delete_devices(&self, user: &UserId) -> Result<u64, StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                exec(c, "DELETE FROM devices WHERE user_id = ?1", [user.as_str()]).map(|n| n as u64)
            })
            .await
    }

    async fn append_activity(&self, e: NewActivity) -> Result<(), StoreError> {
        self.engine.write(move |c| insert_activity(c, &e)).await
    }

    async fn list_activity(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        self.engine.read(|c| {
            all(
                c,
                "SELECT * FROM activity WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                params![user.as_str(), before.unwrap_or(i64::MAX), i64::from(limit)],
                rows::activity,
            )
        })
    }

    async fn create_api_key(&self, key: ApiKeyRecord, digest: [u8; 32]) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO api_keys (id, name, digest, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![key.id.as_str(), key.name, &digest[..], key.created_at],
                )
                .map(drop)
            })
            .await
    }

    async fn api_key_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.engine.read(|c| {
            one(
                c,
                "SELECT * FROM api_keys WHERE digest = ?1 AND revoked_at IS NULL",
                [&digest[..]],
                rows::api_key,
            )
        })
    }

    async fn revoke_api_key(&self, name: &str, now: UnixTime) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "UPDATE api_keys SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
                    params![now, name],
                )
                .map(|n| n == 1)
            })
            .await
    }

    async fn put_pending_oob(&self, method: OobMethod) -> Result<(), StoreError> {
        self.put_pending_oob_tx(method).await
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
        self.activate_oob_tx(user, method, now, first).await
    }

    async fn delete_oob(&self, user: &UserId, channel: Channel) -> Result<(), StoreError> {
        self.delete_oob_tx(user, channel).await
    }

    async fn set_default_method(&self, user: &UserId, method: Method) -> Result<(), StoreError> {
        self.set_user_field(
            "UPDATE users SET default_method = ?1 WHERE id = ?2",
            user,
            method.as_str(),
        )
        .await
    }

    async fn set_locale(&self, user: &UserId, locale: Locale) -> Result<(), StoreError> {
        self.set_user_field(
            "UPDATE users SET locale = ?1 WHERE id = ?2",
            user,
            locale.as_str(),
        )
        .await
    }

    async fn issue_code(&self, code: OobCode, limits: SendLimits) -> Result<Issued, StoreError> {
        self.issue_code_tx(code, limits).await
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
        let found = self.engine.read(|c| {
            one(c, password_failures::READ::SQLITE, [&subject[..]], |r| {
                Ok(PasswordFailures {
                    failures: r.get::<_, i64>(0)?.clamp(0, i64::from(u32::MAX)) as u32,
                    last_failure_at: r.get(1)?,
                })
            })
        })?;
        Ok(found.unwrap_or_default())
    }

    async fn reserve_password_attempt(
        &self,
        subject: &[u8; 32],
        seen: PasswordFailures,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let subject = *subject;
        self.engine
            .write(move |c| {
                exec(
                    c,
                    password_failures::RESERVE::SQLITE,
                    params![&subject[..], now, i64::from(seen.failures)],
                )
                .map(|n| n == 1)
            })
            .await
    }

    async fn clear_password_failures(&self, subject: &[u8; 32]) -> Result<(), StoreError> {
        let subject = *subject;
        self.engine
            .write(move |c| exec(c, password_failures::CLEAR::SQLITE, [&subject[..]]).map(drop))
            .await
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
        self.purge(before).await
    }
}
