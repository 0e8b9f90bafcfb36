//! Fake but well-formed data for the checks, and the few steps most checks share.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nidan_domain::Method;

use crate::ports::{
    Attempt, Candidate, ChallengeAttempt, ChallengeRecord, DeviceRecord, FirstMethod, NewDevice,
    NewSession, NewUser, SessionRecord, Settled, SignInGrant, Store, StoreError, TotpCredential,
    UserRecord,
};
use crate::{CredentialId, DeviceId, SessionId, UnixTime, UserId};

/// "Now" for every check: a fixed, realistic time.
pub(super) const NOW: UnixTime = 1_700_000_000;
/// The TOTP step of [`NOW`] (30-second steps).
pub(super) const STEP: u64 = (NOW / 30) as u64;
/// The attempt cap of a sign-in challenge (the security rules say 5).
pub(super) const MAX_ATTEMPTS: u32 = 5;
/// A challenge's lifetime.
pub(super) const CHALLENGE_TTL: UnixTime = 600;

/// A store and a counter for unique ids and digests.
pub(super) struct Fixture {
    pub(super) store: Arc<dyn Store>,
    counter: AtomicU64,
    step: AtomicU64,
}

impl Fixture {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            counter: AtomicU64::new(1),
            step: AtomicU64::new(STEP),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A unique id-shaped string (hex, like the real ones).
    pub(super) fn id(&self) -> String {
        format!("{:032x}", self.next())
    }

    /// A unique 32-byte digest.
    pub(super) fn digest(&self) -> [u8; 32] {
        let mut d = [0xa5; 32];
        d[..8].copy_from_slice(&self.next().to_be_bytes());
        d
    }

    /// `n` unique digests.
    pub(super) fn digests(&self, n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|_| self.digest()).collect()
    }

    /// A unique opaque "sealed seed".
    pub(super) fn sealed(&self) -> Vec<u8> {
        format!("sealed-seed-{}", self.next()).into_bytes()
    }

    /// A unique step for a successful sign-in, so helpers never replay one another's steps.
    fn fresh_step(&self) -> u64 {
        self.step.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn new_user(&self) -> NewUser {
        let id = self.id();
        NewUser {
            email: format!("user-{id}@example.test"),
            id: UserId::new(id),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$fake$fake".into()),
            locale: crate::courier::Locale::Ja,
            created_at: NOW - 86_400,
        }
    }

    /// Creates an account and returns its id.
    pub(super) async fn user(&self) -> UserId {
        let user = self.new_user();
        let id = user.id.clone();
        self.store
            .create_user(user)
            .await
            .expect("create_user failed for a fresh account");
        id
    }

    /// The stored account, which must exist.
    pub(super) async fn user_record(&self, id: &UserId) -> UserRecord {
        self.store
            .user_by_id(id)
            .await
            .expect("user_by_id failed")
            .expect("user_by_id: the account should exist")
    }

    pub(super) async fn failures(&self, id: &UserId) -> u32 {
        self.user_record(id).await.failed_attempts
    }

    /// A credential record for `user` (pending when `confirmed_at` is `None`).
    pub(super) fn credential(
        &self,
        user: &UserId,
        confirmed_at: Option<UnixTime>,
    ) -> TotpCredential {
        TotpCredential {
            id: CredentialId::new(self.id()),
            user_id: user.clone(),
            sealed_secret: self.sealed(),
            last_used_step: None,
            confirmed_at,
            created_at: NOW - 120,
        }
    }

    /// Enrols an authenticator app the way the service does: pending, then activated.
    pub(super) async fn active_totp(
        &self,
        user: &UserId,
        first: Option<FirstMethod>,
    ) -> CredentialId {
        let c = self.credential(user, None);
        let id = c.id.clone();
        self.store
            .put_pending_totp(c)
            .await
            .expect("put_pending_totp failed");
        let activated = self
            .store
            .activate_totp(user, &id, NOW - 60, first)
            .await
            .expect("activate_totp failed");
        assert!(
            activated,
            "activate_totp must activate a credential that was just stored as pending"
        );
        id
    }

    /// Turns two-step on with an app and `codes` recovery codes; returns the credential and the codes.
    pub(super) async fn enrolled(
        &self,
        user: &UserId,
        codes: usize,
    ) -> (CredentialId, Vec<[u8; 32]>) {
        let digests = self.digests(codes);
        let first = FirstMethod {
            default_method: Method::Totp,
            recovery_digests: digests.clone(),
            keep_session: None,
        };
        (self.active_totp(user, Some(first)).await, digests)
    }

    pub(super) fn new_session(&self, user: &UserId, at: UnixTime) -> NewSession {
        NewSession {
            record: SessionRecord {
                id: SessionId::new(self.id()),
                user_id: user.clone(),
                created_at: at,
                last_seen_at: at,
                ip: "192.0.2.10".into(),
                user_agent: "conformance/1.0".into(),
                second_step: None,
            },
            digest: self.digest(),
        }
    }

    /// Creates a session directly (sign-in without a second step).
    pub(super) async fn session(&self, user: &UserId, at: UnixTime) -> NewSession {
        let s = self.new_session(user, at);
        self.store
            .create_session(s.clone())
            .await
            .expect("create_session failed");
        s
    }

    pub(super) fn new_device(&self, user: &UserId, at: UnixTime) -> NewDevice {
        NewDevice {
            record: DeviceRecord {
                id: DeviceId::new(self.id()),
                user_id: user.clone(),
                name: "Firefox on Linux".into(),
                created_at: at,
                last_used_at: None,
                last_ip: "192.0.2.10".into(),
                expires_at: at + 30 * 86_400,
            },
            digest: self.digest(),
        }
    }

    pub(super) fn challenge_record(&self, user: &UserId, created_at: UnixTime) -> ChallengeRecord {
        ChallengeRecord {
            digest: self.digest(),
            user_id: user.clone(),
            created_at,
            expires_at: created_at + CHALLENGE_TTL,
            attempts: 0,
            consumed_at: None,
            ip: "192.0.2.10".into(),
            user_agent: "conformance/1.0".into(),
        }
    }

    /// Creates a sign-in challenge for `user` started at `created_at`; returns its digest.
    pub(super) async fn challenge(&self, user: &UserId, created_at: UnixTime) -> [u8; 32] {
        let c = self.challenge_record(user, created_at);
        let digest = c.digest;
        self.store
            .create_challenge(c)
            .await
            .expect("create_challenge failed");
        digest
    }

    /// The challenge side of an attempt, with a fresh grant (and a device when `device` is given).
    pub(super) fn at_challenge(
        &self,
        user: &UserId,
        digest: [u8; 32],
        now: UnixTime,
        device: Option<NewDevice>,
    ) -> ChallengeAttempt {
        ChallengeAttempt {
            digest,
            max_attempts: MAX_ATTEMPTS,
            grant: SignInGrant {
                session: self.new_session(user, now),
                device,
            },
        }
    }

    /// Settles one attempt, with whatever `seen_failures` the caller gives.
    pub(super) async fn settle(&self, attempt: Attempt) -> Settled {
        self.store
            .settle_attempt(attempt)
            .await
            .expect("settle_attempt failed")
    }

    /// Settles an attempt the way the service does: with the failure count read fresh, again
    /// after `Raced`.
    pub(super) async fn settle_fresh(
        &self,
        user: &UserId,
        now: UnixTime,
        candidate: Candidate,
        challenge: Option<ChallengeAttempt>,
    ) -> Settled {
        settle_like_service(self.store.as_ref(), user, now, candidate, challenge).await
    }

    /// A full sign-in through a new challenge with a fresh TOTP step; returns the session and the
    /// device it created.
    pub(super) async fn sign_in(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: UnixTime,
        device: Option<NewDevice>,
    ) -> (NewSession, Option<NewDevice>) {
        let digest = self.challenge(user, now).await;
        let at = self.at_challenge(user, digest, now, device);
        let granted = at.grant.clone();
        let candidate = Candidate::TotpStep {
            credential_id: credential.clone(),
            step: self.fresh_step(),
        };
        let settled = self.settle_fresh(user, now, candidate, Some(at)).await;
        assert_eq!(
            settled,
            Settled::Accepted {
                recovery_codes_left: None
            },
            "a fresh TOTP step at a fresh challenge must be accepted"
        );
        (granted.session, granted.device)
    }

    /// Remembers a device for `user` through a sign-in; returns it.
    pub(super) async fn device(
        &self,
        user: &UserId,
        credential: &CredentialId,
        at: UnixTime,
    ) -> NewDevice {
        let (_, device) = self
            .sign_in(user, credential, at, Some(self.new_device(user, at)))
            .await;
        device.expect("sign_in returns the device it was given")
    }

    pub(super) async fn session_exists(&self, digest: &[u8; 32]) -> bool {
        self.store
            .session_by_digest(digest)
            .await
            .expect("session_by_digest failed")
            .is_some()
    }

    pub(super) async fn device_exists(&self, digest: &[u8; 32]) -> bool {
        self.store
            .device_by_digest(digest)
            .await
            .expect("device_by_digest failed")
            .is_some()
    }

    pub(super) async fn codes_left(&self, user: &UserId) -> u32 {
        self.store
            .recovery_codes_left(user)
            .await
            .expect("recovery_codes_left failed")
    }

    pub(super) async fn active(&self, user: &UserId) -> Option<TotpCredential> {
        self.store
            .active_totp(user)
            .await
            .expect("active_totp failed")
    }

    pub(super) async fn pending(&self, user: &UserId) -> Option<TotpCredential> {
        self.store
            .pending_totp(user)
            .await
            .expect("pending_totp failed")
    }

    pub(super) async fn sealed_ids(&self) -> Vec<CredentialId> {
        let all = self
            .store
            .all_sealed_secrets()
            .await
            .expect("all_sealed_secrets failed");
        all.into_iter().map(|(id, _, _)| id).collect()
    }

    pub(super) async fn session_ids(&self, user: &UserId) -> Vec<SessionId> {
        let all = self
            .store
            .list_sessions(user)
            .await
            .expect("list_sessions failed");
        all.into_iter().map(|s| s.id).collect()
    }

    pub(super) async fn device_ids(&self, user: &UserId) -> Vec<DeviceId> {
        let all = self
            .store
            .list_devices(user)
            .await
            .expect("list_devices failed");
        all.into_iter().map(|d| d.id).collect()
    }
}

/// The service's attempt loop (`check_code`): read the failure count, settle, and on `Raced`
/// read again and retry. Bounded only to turn a livelock into a clear failure.
pub(super) async fn settle_like_service(
    store: &dyn Store,
    user: &UserId,
    now: UnixTime,
    candidate: Candidate,
    challenge: Option<ChallengeAttempt>,
) -> Settled {
    for _ in 0..10_000 {
        let seen = store
            .user_by_id(user)
            .await
            .expect("user_by_id failed")
            .expect("the account should exist")
            .failed_attempts;
        let attempt = Attempt {
            user_id: user.clone(),
            seen_failures: seen,
            now,
            candidate: candidate.clone(),
            challenge: challenge.clone(),
            record: None,
        };
        match store
            .settle_attempt(attempt)
            .await
            .expect("settle_attempt failed")
        {
            Settled::Raced => tokio::task::yield_now().await,
            settled => return settled,
        }
    }
    panic!(
        "settle_attempt answered Raced 10000 times in a row although the failure count was read fresh each time"
    );
}

/// The `Rejected` settlement with these fields.
pub(super) fn rejected(
    failures: u32,
    challenge_attempts_left: Option<u32>,
    replayed: bool,
) -> Settled {
    Settled::Rejected {
        failures,
        challenge_attempts_left,
        replayed,
    }
}

/// Panics unless `result` is `StoreError::Conflict`.
pub(super) fn expect_conflict<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}
