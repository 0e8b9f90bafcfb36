//! The `Store` port, once for both backends: each method says which operation of `ops/` it runs
//! and how (a read, the check's read, a write in its own transaction, a single statement), and
//! the backend runs it its way (see `db.rs`).

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

use crate::db::{Backend, Body, BoxFuture, Conn, DbError, Native, Run, Step};
use crate::ops::{accounts, check, codes, credentials, notices, sessions};
use crate::{args, sql};

/// A store on one backend.
#[derive(Clone, Debug)]
pub(crate) struct Db<B>(pub(crate) B);

impl<B: Backend> Db<B> {
    /// Runs an operation that keeps whatever it did (reads, and writes that never undo).
    async fn run<A, T>(
        &self,
        how: Run,
        args: A,
        body: impl for<'c, 'a> Fn(&'a mut B::Conn<'c>, &'a A) -> BoxFuture<'a, Result<T, DbError>>
        + Send
        + Sync
        + 'static,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let keeping = boxed::<B, A, T>(move |c, a| {
            let done = body(c, a);
            Box::pin(async move { Ok(Step::Commit(done.await?)) })
        });
        self.0.run(how, args, keeping).await
    }

    /// Runs an operation that may undo what it did ([`Step::Rollback`]).
    async fn step<A, T>(
        &self,
        how: Run,
        args: A,
        body: impl for<'c, 'a> Fn(&'a mut B::Conn<'c>, &'a A) -> BoxFuture<'a, Result<Step<T>, DbError>>
        + Send
        + Sync
        + 'static,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.0.run(how, args, boxed::<B, A, T>(body)).await
    }
}

/// A body as the backend takes it.
fn boxed<B: Backend, A, T>(
    body: impl for<'c, 'a> Fn(&'a mut B::Conn<'c>, &'a A) -> BoxFuture<'a, Result<Step<T>, DbError>>
    + Send
    + Sync
    + 'static,
) -> Body<B, A, T> {
    Box::new(body)
}

#[async_trait]
impl<B: Backend + Native> Store for Db<B> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(Run::Read, (), |c, ()| {
            Box::pin(async move {
                c.row(sql!("SELECT 1"), args![], &|_| Ok(()))
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
        self.run(Run::Single, user, |c, u| {
            Box::pin(accounts::create_user(c, u))
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.run(Run::Read, email.to_owned(), |c, e| {
            Box::pin(accounts::user_by_email(c, e))
        })
        .await
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.run(Run::Read, id.clone(), |c, id| {
            Box::pin(accounts::user_by_id(c, id))
        })
        .await
    }

    async fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError> {
        self.0.user_ids_by_email(emails).await
    }

    async fn set_password_hash(&self, id: &UserId, hash: Option<String>) -> Result<(), StoreError> {
        self.run(Run::Write, (id.clone(), hash), |c, (id, hash)| {
            Box::pin(accounts::set_password_hash(c, id, hash.as_deref()))
        })
        .await
    }

    async fn set_two_step_enabled(
        &self,
        id: &UserId,
        enabled: bool,
        keep_session: Option<&SessionId>,
    ) -> Result<(), StoreError> {
        self.run(
            Run::Write,
            (id.clone(), enabled, keep_session.cloned()),
            |c, (id, enabled, keep_session)| {
                Box::pin(accounts::set_two_step_enabled(
                    c,
                    id,
                    *enabled,
                    keep_session.as_ref(),
                ))
            },
        )
        .await
    }

    async fn put_pending_totp(&self, credential: TotpCredential) -> Result<(), StoreError> {
        self.run(Run::Write, credential, |c, t| {
            Box::pin(credentials::put_pending_totp(c, t))
        })
        .await
    }

    async fn pending_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(credentials::pending_totp(c, u))
        })
        .await
    }

    async fn active_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(credentials::active_totp(c, u))
        })
        .await
    }

    async fn activate_totp(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: UnixTime,
        first_method: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        self.step(
            Run::Write,
            (user.clone(), credential.clone(), now, first_method),
            |c, (user, credential, now, first)| {
                Box::pin(credentials::activate_totp(
                    c,
                    user,
                    credential,
                    *now,
                    first.as_ref(),
                ))
            },
        )
        .await
    }

    async fn delete_totp(&self, user: &UserId) -> Result<(), StoreError> {
        self.run(Run::Write, user.clone(), |c, u| {
            Box::pin(credentials::delete_totp(c, u))
        })
        .await
    }

    async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
        crate::import_rows::each_account_once(&rows)?;
        self.0.import_totp(rows).await
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<(CredentialId, UserId, Vec<u8>)>, StoreError> {
        self.run(Run::Read, (), |c, ()| {
            Box::pin(credentials::all_sealed_secrets(c))
        })
        .await
    }

    async fn reseal_secrets(&self, rows: Vec<(CredentialId, Vec<u8>)>) -> Result<(), StoreError> {
        self.run(Run::Write, rows, |c, rows| {
            Box::pin(credentials::reseal_secrets(c, rows))
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<[u8; 32]>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.run(
            Run::Write,
            (user.clone(), digests, now),
            |c, (user, digests, now)| {
                Box::pin(credentials::replace_recovery_codes(c, user, digests, *now))
            },
        )
        .await
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(credentials::recovery_codes_left(c, u))
        })
        .await
    }

    async fn account_for_check(&self, email: &str) -> Result<Option<AccountForCheck>, StoreError> {
        self.run(Run::CheckRead, email.to_owned(), |c, e| {
            Box::pin(check::account_for_check(c, e))
        })
        .await
    }

    async fn challenge_for_check(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(ChallengeRecord, AccountForCheck)>, StoreError> {
        self.run(Run::CheckRead, *digest, |c, d| {
            Box::pin(check::challenge_for_check(c, d))
        })
        .await
    }

    async fn settle_attempt(&self, attempt: Attempt) -> Result<Settled, StoreError> {
        self.step(Run::WriteWhole, attempt, |c, a| {
            Box::pin(check::settle_and_record(c, a))
        })
        .await
    }

    async fn remove_two_step(&self, user: &UserId, end_sessions: bool) -> Result<(), StoreError> {
        self.run(
            Run::Write,
            (user.clone(), end_sessions),
            |c, (user, end)| Box::pin(credentials::remove_two_step(c, user, *end)),
        )
        .await
    }

    async fn create_challenge(&self, challenge: ChallengeRecord) -> Result<(), StoreError> {
        self.run(Run::Single, challenge, |c, ch| {
            Box::pin(sessions::create_challenge(c, ch))
        })
        .await
    }

    async fn challenge_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        self.run(Run::Read, *digest, |c, d| {
            Box::pin(sessions::challenge_by_digest(c, d))
        })
        .await
    }

    async fn create_session(&self, session: NewSession) -> Result<(), StoreError> {
        self.run(Run::Single, session, |c, s| {
            Box::pin(check::insert_session(c, s))
        })
        .await
    }

    async fn session_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.run(Run::Read, *digest, |c, d| {
            Box::pin(sessions::session_by_digest(c, d))
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.run(Run::Single, (id.clone(), now), |c, (id, now)| {
            Box::pin(sessions::touch_session(c, id, *now))
        })
        .await
    }

    async fn list_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(sessions::list_sessions(c, u))
        })
        .await
    }

    async fn delete_session(&self, user: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        self.run(Run::Single, (user.clone(), id.clone()), |c, (user, id)| {
            Box::pin(sessions::delete_session(c, user, id))
        })
        .await
    }

    async fn device_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<DeviceRecord>, StoreError> {
        self.run(Run::Read, *digest, |c, d| {
            Box::pin(sessions::device_by_digest(c, d))
        })
        .await
    }

    async fn sign_in_with_device(
        &self,
        device: &DeviceId,
        now: UnixTime,
        ip: &str,
        session: NewSession,
    ) -> Result<bool, StoreError> {
        self.step(
            Run::Write,
            (device.clone(), now, ip.to_owned(), session),
            |c, (device, now, ip, session)| {
                Box::pin(sessions::sign_in_with_device(c, device, *now, ip, session))
            },
        )
        .await
    }

    async fn list_devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(sessions::list_devices(c, u))
        })
        .await
    }

    async fn delete_device(&self, user: &UserId, id: &DeviceId) -> Result<bool, StoreError> {
        self.run(Run::Single, (user.clone(), id.clone()), |c, (user, id)| {
            Box::pin(sessions::delete_device(c, user, id))
        })
        .await
    }

    async fn delete_devices(&self, user: &UserId) -> Result<u64, StoreError> {
        self.run(Run::Single, user.clone(), |c, u| {
            Box::pin(accounts::forget_devices(c, u))
        })
        .await
    }

    async fn append_activity(&self, event: NewActivity) -> Result<(), StoreError> {
        self.run(Run::Single, event, |c, e| {
            Box::pin(check::insert_activity(c, e))
        })
        .await
    }

    async fn list_activity(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        self.run(
            Run::Read,
            (user.clone(), limit, before),
            |c, (user, limit, before)| Box::pin(sessions::list_activity(c, user, *limit, *before)),
        )
        .await
    }

    async fn put_pending_oob(&self, method: OobMethod) -> Result<(), StoreError> {
        self.run(Run::Write, method, |c, m| {
            Box::pin(codes::put_pending_oob(c, m))
        })
        .await
    }

    async fn oob_methods(&self, user: &UserId) -> Result<Vec<OobMethod>, StoreError> {
        self.run(Run::Read, user.clone(), |c, u| {
            Box::pin(codes::oob_methods(c, u))
        })
        .await
    }

    async fn activate_oob(
        &self,
        user: &UserId,
        method: &CredentialId,
        now: UnixTime,
        first_method: Option<FirstMethod>,
    ) -> Result<bool, StoreError> {
        self.step(
            Run::Write,
            (user.clone(), method.clone(), now, first_method),
            |c, (user, method, now, first)| {
                Box::pin(codes::activate_oob(c, user, method, *now, first.as_ref()))
            },
        )
        .await
    }

    async fn delete_oob(&self, user: &UserId, channel: Channel) -> Result<(), StoreError> {
        self.run(Run::Write, (user.clone(), channel), |c, (user, channel)| {
            Box::pin(codes::delete_oob(c, user, *channel))
        })
        .await
    }

    async fn set_default_method(&self, user: &UserId, method: Method) -> Result<(), StoreError> {
        self.run(Run::Single, (user.clone(), method), |c, (user, method)| {
            Box::pin(accounts::set_default_method(c, user, method.as_str()))
        })
        .await
    }

    async fn set_locale(&self, user: &UserId, locale: Locale) -> Result<(), StoreError> {
        self.run(Run::Single, (user.clone(), locale), |c, (user, locale)| {
            Box::pin(accounts::set_locale(c, user, locale.as_str()))
        })
        .await
    }

    async fn issue_code(&self, code: OobCode, limits: SendLimits) -> Result<Issued, StoreError> {
        self.step(Run::Write, (code, limits), |c, (code, limits)| {
            Box::pin(codes::issue_code(c, code, limits))
        })
        .await
    }

    async fn discard_code(&self, code_id: &str) -> Result<(), StoreError> {
        self.run(Run::Single, code_id.to_owned(), |c, id| {
            Box::pin(codes::discard_code(c, id))
        })
        .await
    }

    async fn live_code(
        &self,
        user: &UserId,
        binding: &CodeBinding,
    ) -> Result<Option<OobCode>, StoreError> {
        self.run(
            Run::Read,
            (user.clone(), binding.clone()),
            |c, (user, binding)| Box::pin(codes::live_code(c, user, binding)),
        )
        .await
    }

    async fn password_failures(&self, subject: &[u8; 32]) -> Result<PasswordFailures, StoreError> {
        self.run(Run::Read, *subject, |c, s| {
            Box::pin(accounts::password_failures(c, s))
        })
        .await
    }

    async fn reserve_password_attempt(
        &self,
        subject: &[u8; 32],
        seen: PasswordFailures,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.run(
            Run::Single,
            (*subject, seen, now),
            |c, (subject, seen, now)| {
                Box::pin(accounts::reserve_password_attempt(c, subject, *seen, *now))
            },
        )
        .await
    }

    async fn clear_password_failures(&self, subject: &[u8; 32]) -> Result<(), StoreError> {
        self.run(Run::Single, *subject, |c, s| {
            Box::pin(accounts::clear_password_failures(c, s))
        })
        .await
    }

    async fn enqueue_notice(&self, notice: NewNotice) -> Result<(), StoreError> {
        self.run(Run::Single, notice, |c, n| {
            Box::pin(notices::enqueue_notice(c, n))
        })
        .await
    }

    async fn due_notices(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueuedNotice>, StoreError> {
        self.0.due_notices(now, limit).await
    }

    async fn notice_sent(&self, id: i64, now: UnixTime) -> Result<(), StoreError> {
        self.run(Run::Single, (id, now), |c, (id, now)| {
            Box::pin(notices::notice_sent(c, *id, *now))
        })
        .await
    }

    async fn notice_failed(
        &self,
        id: i64,
        retry_at: Option<UnixTime>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.run(
            Run::Single,
            (id, retry_at, error.to_owned()),
            |c, (id, retry_at, error)| Box::pin(notices::notice_failed(c, *id, *retry_at, error)),
        )
        .await
    }

    async fn unfinished_challenges(
        &self,
        cutoff: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChallengeRecord>, StoreError> {
        self.run(Run::Read, (cutoff, limit), |c, (cutoff, limit)| {
            Box::pin(sessions::unfinished_challenges(c, *cutoff, *limit))
        })
        .await
    }

    async fn mark_challenge_reported(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.run(Run::Single, (*digest, now), |c, (digest, now)| {
            Box::pin(sessions::mark_challenge_reported(c, digest, *now))
        })
        .await
    }

    async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.run(Run::Write, before, |c, before| {
            Box::pin(notices::purge_expired(c, *before))
        })
        .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord, digest: [u8; 32]) -> Result<(), StoreError> {
        self.run(Run::Single, (key, digest), |c, (key, digest)| {
            Box::pin(accounts::create_api_key(c, key, digest))
        })
        .await
    }

    async fn api_key_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.run(Run::Read, *digest, |c, d| {
            Box::pin(accounts::api_key_by_digest(c, d))
        })
        .await
    }

    async fn revoke_api_key(&self, name: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.run(Run::Single, (name.to_owned(), now), |c, (name, now)| {
            Box::pin(accounts::revoke_api_key(c, name, *now))
        })
        .await
    }
}
