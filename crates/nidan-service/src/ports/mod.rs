//! The ports the use cases are written against: storage, time and randomness (the records the
//! store speaks in are in `records.rs`).
//!
//! `Store` is deliberately narrow and speaks in domain operations, not tables. Everything that
//! must be one-time or counted (TOTP steps, recovery codes, challenge attempts, the per-account
//! failure count) is settled inside the store by conditional updates in one transaction, so two
//! requests can never both win, on one node or on many.

mod records;

use async_trait::async_trait;
use nidan_domain::Method;

use crate::courier::{Channel, Locale};
use crate::ids::{ApiKeyId, CredentialId, DeviceId, SessionId, UserId};

/// Seconds since the Unix epoch, UTC. The only representation of time inside nidan; it is
/// formatted as RFC 3339 at the HTTP edge.
pub type UnixTime = i64;

/// Where time comes from. Real code uses the system clock; tests move a fake one.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> UnixTime;
}

/// Where random bytes come from. Real code uses the OS CSPRNG; nothing else may make secrets.
pub trait Rng: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// A storage failure. Details are logged by the caller; users only ever see a generic 500/503.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported.
    #[error("storage error: {0}")]
    Other(String),
}

pub use records::*;

/// The store's traits, one per concern: `use nidan_service::ports::stores::*` brings every
/// method into scope.
pub mod stores {
    pub use super::{
        Accounts, Activity, ApiKeys, Checks, Credentials, Notices, Oidc, SecurityKeys, Sessions,
        Store,
    };
}

/// Storage: every concern's trait, and readiness. Implemented for SQLite and PostgreSQL in
/// `nidan-store`; every implementation must pass the conformance suite in [`crate::conformance`].
#[async_trait]
pub trait Store:
    Accounts + Credentials + SecurityKeys + Checks + Sessions + Activity + Notices + ApiKeys + Oidc
{
    /// Answers when the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Adds the backend's own series (its writer, its pool) to `registry`.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// Accounts: who they are, their settings, and their counted wrong passwords and codes.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Creates an account; `Conflict` when the email is taken.
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    /// Finds an account by normalised email.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Finds an account by id.
    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Ids of existing accounts among these emails (for imports).
    async fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError>;
    /// Sets or clears the password, and ends what the old one let in: every session but
    /// `keep_session`, every remembered device, every unused reset link.
    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: Option<String>,
        keep_session: Option<&SessionId>,
    ) -> Result<(), StoreError>;
    /// Stores a reset link as the account's only working one, unless `max_per_hour` links were
    /// asked for in the hour before it (false: nothing stored).
    async fn create_password_reset(
        &self,
        reset: PasswordReset,
        max_per_hour: u32,
    ) -> Result<bool, StoreError>;
    /// A reset link by its token's digest (used or not).
    async fn password_reset(&self, digest: &[u8; 32]) -> Result<Option<PasswordReset>, StoreError>;
    /// Forgets a reset link whose email could not be delivered.
    async fn discard_password_reset(&self, digest: &[u8; 32]) -> Result<(), StoreError>;
    /// Uses a reset link, if it is unused and unexpired at `now` (one atomic statement decides),
    /// and sets the password with it as [`Accounts::set_password_hash`] does, ending every
    /// session. The account whose password it set, or `None` when the link did not work.
    async fn reset_password(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
        hash: String,
    ) -> Result<Option<UserId>, StoreError>;
    /// Changes the sign-in email; `Conflict` when another account has it.
    async fn set_email(&self, id: &UserId, email: &str) -> Result<(), StoreError>;
    /// Deletes the account and everything of it (credentials, codes, sessions, devices,
    /// activity, queued notices), and queues `last_notice` (addressed by its `to`), in one
    /// transaction. False when there was no such account.
    async fn delete_user(&self, id: &UserId, last_notice: NewNotice) -> Result<bool, StoreError>;
    /// Switches two-step on or off (methods kept); off may be until `off_until`, when it turns
    /// back on by itself ([`Accounts::two_step_back_on`]). Either way every remembered device is
    /// forgotten; on also ends every session of the user but `keep_session` (nothing made with
    /// less than the second step outlives it).
    async fn set_two_step_enabled(
        &self,
        id: &UserId,
        enabled: bool,
        keep_session: Option<&SessionId>,
        off_until: Option<UnixTime>,
    ) -> Result<(), StoreError>;
    /// Accounts whose two-step is off until a time that has come, at most `limit`.
    async fn due_two_step_back_on(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError>;
    /// Turns two-step back on if its "off until" time has come (one conditional update decides
    /// on any number of nodes), ending every session and remembered device; false when not due.
    async fn two_step_back_on(&self, id: &UserId, now: UnixTime) -> Result<bool, StoreError>;
    /// Disables the account at `disabled_at` (every session, open challenge and remembered
    /// device ends), or enables it (`None`); false when there is no such account.
    async fn set_disabled(
        &self,
        id: &UserId,
        disabled_at: Option<UnixTime>,
    ) -> Result<bool, StoreError>;
    /// Accounts whose email contains `query` (any case), in email order after `after`, at most
    /// `limit`, each with whether it has a confirmed method.
    async fn list_users(
        &self,
        query: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(UserRecord, bool)>, StoreError>;
    /// Adds the account to a group; false when it was in it already.
    async fn add_group(&self, id: &UserId, name: &str) -> Result<bool, StoreError>;
    /// Takes the account out of a group; false when it was not in it.
    async fn remove_group(&self, id: &UserId, name: &str) -> Result<bool, StoreError>;
    /// The account's groups, by name.
    async fn groups(&self, id: &UserId) -> Result<Vec<String>, StoreError>;
    /// Sets the method offered first at sign-in.
    async fn set_default_method(&self, user: &UserId, method: Method) -> Result<(), StoreError>;
    /// Sets the language of the account's emails.
    async fn set_locale(&self, user: &UserId, locale: Locale) -> Result<(), StoreError>;
    /// The wrong passwords counted for `subject` (zero when none).
    async fn password_failures(&self, subject: &[u8; 32]) -> Result<PasswordFailures, StoreError>;
    /// Counts one attempt for `subject` before its password is judged, if the count is still
    /// `seen.failures` (one atomic statement: of parallel attempts that saw the same count, one
    /// wins). False: another attempt got there first; nothing was written.
    async fn reserve_password_attempt(
        &self,
        subject: &[u8; 32],
        seen: PasswordFailures,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Forgets the account's counted wrong codes (support unlocking the second step).
    async fn clear_code_failures(&self, user: &UserId) -> Result<(), StoreError>;
    /// Forgets the count for `subject` (a right password, or support unlocking it).
    async fn clear_password_failures(&self, subject: &[u8; 32]) -> Result<(), StoreError>;
}

/// The ways in of the second step: authenticator apps, email and SMS methods, recovery codes.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    /// Stores a pending credential, replacing any earlier pending one of the user.
    async fn put_pending_totp(&self, credential: TotpCredential) -> Result<(), StoreError>;
    /// The user's pending credential.
    async fn pending_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError>;
    /// The user's confirmed credential.
    async fn active_totp(&self, user: &UserId) -> Result<Option<TotpCredential>, StoreError>;
    /// Makes the pending credential the active one (replacing an older active one). When
    /// `first_method` is given the account turns two-step on, gets these recovery-code digests,
    /// every other session (all but `keep_session`) ends and every remembered device is
    /// forgotten.
    async fn activate_totp(
        &self,
        user: &UserId,
        credential: &CredentialId,
        now: UnixTime,
        first_method: Option<FirstMethod>,
    ) -> Result<bool, StoreError>;
    /// Removes the authenticator app. When it was the last method, two-step becomes `none`:
    /// recovery codes, remembered devices and open sign-in challenges go too, and the failure
    /// count is cleared.
    async fn delete_totp(&self, user: &UserId) -> Result<(), StoreError>;
    /// Imports seeds in one transaction: all rows or none.
    async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError>;
    /// Every sealed seed (for key rotation), as (credential, user, blob).
    async fn all_sealed_secrets(&self) -> Result<Vec<(CredentialId, UserId, Vec<u8>)>, StoreError>;
    /// Replaces sealed seeds (key rotation), in one transaction.
    async fn reseal_secrets(&self, rows: Vec<(CredentialId, Vec<u8>)>) -> Result<(), StoreError>;
    /// Stores a pending method, replacing any pending one of the same channel (and killing
    /// codes sent to it).
    async fn put_pending_oob(&self, method: OobMethod) -> Result<(), StoreError>;
    /// The user's email and SMS methods, pending and confirmed.
    async fn oob_methods(&self, user: &UserId) -> Result<Vec<OobMethod>, StoreError>;
    /// Makes a pending method the active one of its channel (replacing an older one); with
    /// `first_method`, as [`Credentials::activate_totp`].
    async fn activate_oob(
        &self,
        user: &UserId,
        method: &CredentialId,
        now: UnixTime,
        first_method: Option<FirstMethod>,
    ) -> Result<bool, StoreError>;
    /// Removes the user's method of this channel (pending and confirmed), with what it affects,
    /// as [`Credentials::delete_totp`].
    async fn delete_oob(&self, user: &UserId, channel: Channel) -> Result<(), StoreError>;
    /// Replaces the user's recovery codes with these digests in one transaction.
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<[u8; 32]>,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Unused recovery codes left.
    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError>;
    /// Removes every method, recovery code and remembered device; two-step becomes `none`. With
    /// `end_sessions` (support reset) every session ends too.
    async fn remove_two_step(&self, user: &UserId, end_sessions: bool) -> Result<(), StoreError>;
}

/// Security keys and passkeys (WebAuthn), and their ceremonies in progress.
#[async_trait]
pub trait SecurityKeys: Send + Sync + 'static {
    /// Stores a ceremony, replacing any earlier one of its binding.
    async fn put_webauthn_ceremony(&self, ceremony: WebauthnCeremony) -> Result<(), StoreError>;
    /// Takes (deletes) the ceremony of `binding` in one statement: the one caller that gets it
    /// may finish it, once; `None` when there is none, or it has expired at `now`.
    async fn take_webauthn_ceremony(
        &self,
        binding: &str,
        now: UnixTime,
    ) -> Result<Option<WebauthnCeremony>, StoreError>;
    /// The user's keys, oldest first.
    async fn webauthn_keys(&self, user: &UserId) -> Result<Vec<WebauthnKey>, StoreError>;
    /// The key with this WebAuthn credential id, whoever's it is.
    async fn webauthn_key_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnKey>, StoreError>;
    /// Adds a key; `Conflict` when its credential id is registered already (to anyone). With
    /// `first_method`, as [`Credentials::activate_totp`].
    async fn add_webauthn_key(
        &self,
        key: WebauthnKey,
        first_method: Option<FirstMethod>,
    ) -> Result<(), StoreError>;
    /// Removes one of the user's keys (false when it has no such key), with what it affects, as
    /// [`Credentials::delete_totp`].
    async fn delete_webauthn_key(
        &self,
        user: &UserId,
        id: &CredentialId,
    ) -> Result<bool, StoreError>;
}

/// Sign-in challenges, sent codes, and the one place where codes are consumed and failures counted.
#[async_trait]
pub trait Checks: Send + Sync + 'static {
    /// An account found by email with everything a code check needs, for the hot path of
    /// `POST /api/v1/verify`, read in one snapshot (SQLite: one read transaction; PostgreSQL:
    /// one round trip, a second only for email/SMS methods) instead of four reads.
    async fn account_for_check(&self, email: &str) -> Result<Option<AccountForCheck>, StoreError>;
    /// A sign-in challenge with its account and everything a code check needs, in one read
    /// (the second step's counterpart of [`Checks::account_for_check`]).
    async fn challenge_for_check(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(ChallengeRecord, AccountForCheck)>, StoreError>;
    /// Settles one code attempt atomically; see [`Attempt`] and [`Settled`].
    async fn settle_attempt(&self, attempt: Attempt) -> Result<Settled, StoreError>;
    /// Stores a new sign-in challenge.
    async fn create_challenge(&self, challenge: ChallengeRecord) -> Result<(), StoreError>;
    /// Finds a challenge by token digest.
    async fn challenge_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ChallengeRecord>, StoreError>;
    /// Challenges created before `cutoff` that never produced a session and were not reported.
    async fn unfinished_challenges(
        &self,
        cutoff: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChallengeRecord>, StoreError>;
    /// Marks a challenge reported as unfinished.
    async fn mark_challenge_reported(
        &self,
        digest: &[u8; 32],
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Stores a new code for its binding if the sending limits allow, killing the earlier live
    /// code of that binding and carrying its wrong tries over; records the send.
    async fn issue_code(&self, code: OobCode, limits: SendLimits) -> Result<Issued, StoreError>;
    /// Forgets a code whose delivery failed, and its send record, so the person can try again.
    async fn discard_code(&self, code_id: &str) -> Result<(), StoreError>;
    /// The newest code for a binding that is not used or replaced (it may be expired).
    async fn live_code(
        &self,
        user: &UserId,
        binding: &CodeBinding,
    ) -> Result<Option<OobCode>, StoreError>;
}

/// Sessions and remembered devices.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Creates a session (sign-in without a second step).
    async fn create_session(&self, session: NewSession) -> Result<(), StoreError>;
    /// Finds a session by token digest.
    async fn session_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// A session with what the access rules of forward-auth need of its user, in one read.
    async fn gate_session(&self, digest: &[u8; 32]) -> Result<Option<GateSession>, StoreError>;
    /// Records activity on a session (idle timer).
    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError>;
    /// The user's sessions, newest first.
    async fn list_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError>;
    /// Ends one of the user's sessions; false when there was none.
    async fn delete_session(&self, user: &UserId, id: &SessionId) -> Result<bool, StoreError>;
    /// Finds a device by token digest.
    async fn device_by_digest(&self, digest: &[u8; 32])
    -> Result<Option<DeviceRecord>, StoreError>;
    /// Records a use of a device and creates the session it allowed, in one transaction. Checks the
    /// device again inside it (still there, not expired, the session's user): false, and no
    /// session, when it is not.
    async fn sign_in_with_device(
        &self,
        device: &DeviceId,
        now: UnixTime,
        ip: &str,
        session: NewSession,
    ) -> Result<bool, StoreError>;
    /// The user's devices, newest first.
    async fn list_devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Forgets one device; false when there was none.
    async fn delete_device(&self, user: &UserId, id: &DeviceId) -> Result<bool, StoreError>;
    /// Forgets every device of the user.
    async fn delete_devices(&self, user: &UserId) -> Result<u64, StoreError>;
}

/// The account's history.
#[async_trait]
pub trait Activity: Send + Sync + 'static {
    /// Appends to the user's history.
    async fn append_activity(&self, event: NewActivity) -> Result<(), StoreError>;
    /// Whether the user's history holds a line of `kind` with this `detail`.
    async fn has_activity(
        &self,
        user: &UserId,
        kind: &str,
        detail: &str,
    ) -> Result<bool, StoreError>;
    /// The user's history, newest first, `limit` lines older than the cursor `before`.
    async fn list_activity(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ActivityRecord>, StoreError>;
    /// Every account's history from `since` to before `until`, oldest first, `limit` lines after
    /// the cursor `after`, each with the account's sign-in email (the audit export).
    async fn activity_between(
        &self,
        since: UnixTime,
        until: UnixTime,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(ActivityRecord, String)>, StoreError>;
}

/// Security notices: a durable queue, and the clean-up of what has expired.
#[async_trait]
pub trait Notices: Send + Sync + 'static {
    /// Queues a notice.
    async fn enqueue_notice(&self, notice: NewNotice) -> Result<(), StoreError>;
    /// How many notices are neither sent nor given up on.
    async fn pending_notices(&self) -> Result<u64, StoreError>;
    /// Notices due at `now`, oldest first.
    async fn due_notices(&self, now: UnixTime, limit: u32)
    -> Result<Vec<QueuedNotice>, StoreError>;
    /// Marks a notice sent.
    async fn notice_sent(&self, id: i64, now: UnixTime) -> Result<(), StoreError>;
    /// Records a failed try; `retry_at = None` gives up on it.
    async fn notice_failed(
        &self,
        id: i64,
        retry_at: Option<UnixTime>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Where webhook `name` is in the history; a webhook seen for the first time starts after
    /// the newest line (it is not sent the whole past).
    async fn webhook_cursor(&self, name: &str) -> Result<WebhookCursor, StoreError>;
    /// Moves webhook `name` from line `from` to line `to` and clears its failures, if it is
    /// still at `from` (false when another node moved it).
    async fn advance_webhook(&self, name: &str, from: i64, to: i64) -> Result<bool, StoreError>;
    /// Records a failed delivery: `attempts` in a row, not again before `next_at`.
    async fn webhook_failed(
        &self,
        name: &str,
        attempts: u32,
        next_at: UnixTime,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Deletes what the retention rules say is over ([`Purge`]), at most `batch` rows per table;
    /// answers how many rows went (call again while it is not 0).
    async fn purge(&self, rules: Purge) -> Result<u64, StoreError>;
}

/// Keys of the apps that call `/api/v1/verify`.
#[async_trait]
pub trait ApiKeys: Send + Sync + 'static {
    /// Stores a new key's digest.
    async fn create_api_key(&self, key: ApiKeyRecord, digest: [u8; 32]) -> Result<(), StoreError>;
    /// Finds an unrevoked key by digest.
    async fn api_key_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Revokes a key by name; false when none was active.
    async fn revoke_api_key(&self, name: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// The active keys, by name.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Records a use of a key.
    async fn touch_api_key(&self, id: &ApiKeyId, now: UnixTime) -> Result<(), StoreError>;
}

/// The OpenID Connect provider: clients, signing keys, authorization codes and tokens. Codes and
/// refresh tokens are one-time: one conditional update says whether a use was the first, on one
/// node or many.
#[async_trait]
pub trait Oidc: Send + Sync + 'static {
    /// Registers a client; `Conflict` when the id is taken.
    async fn create_oidc_client(&self, client: OidcClient) -> Result<(), StoreError>;
    /// A client by id.
    async fn oidc_client(&self, id: &str) -> Result<Option<OidcClient>, StoreError>;
    /// Every client, by id.
    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError>;
    /// Removes a client with its codes, tokens and consents; false when there was none.
    async fn delete_oidc_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Stores new signing keys and retires (`retired_at = now`) every key in use before them.
    async fn put_signing_keys(
        &self,
        keys: Vec<SigningKey>,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Stores the first signing keys unless keys are in use already (of several made at once,
    /// one set wins); true when these were stored.
    async fn first_signing_keys(&self, keys: Vec<SigningKey>) -> Result<bool, StoreError>;
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;
    /// Stores an authorization code.
    async fn create_auth_code(&self, code: AuthCode) -> Result<(), StoreError>;
    /// Uses an authorization code of `client` at `now`, once: the code when this was its first
    /// use within its lifetime; on a second use, every token issued from it is revoked.
    async fn redeem_auth_code(
        &self,
        digest: &[u8; 32],
        client: &str,
        now: UnixTime,
    ) -> Result<Redeemed<AuthCode>, StoreError>;
    /// Stores tokens.
    async fn issue_oidc_tokens(&self, tokens: Vec<OidcToken>) -> Result<(), StoreError>;
    /// A token by digest, if it exists (expired or not).
    async fn oidc_token(&self, digest: &[u8; 32]) -> Result<Option<OidcToken>, StoreError>;
    /// Uses a refresh token of `client` at `now`, once, and stores its successors in the same
    /// transaction; on a second use its whole family is revoked (RFC 9700 §4.14.2).
    async fn rotate_refresh_token(
        &self,
        digest: &[u8; 32],
        client: &str,
        now: UnixTime,
        successors: Vec<OidcToken>,
    ) -> Result<Redeemed<OidcToken>, StoreError>;
    /// Revokes a token of `client` (a refresh token with its family); false when none matched.
    async fn revoke_oidc_token(&self, digest: &[u8; 32], client: &str) -> Result<bool, StoreError>;
    /// Records that `client` signed `user` in with `scope`; `consented_at` when the user just
    /// allowed it (then `scope` is what they allowed; otherwise the allowed scope is kept).
    async fn record_oidc_app(&self, user: &UserId, app: OidcApp) -> Result<(), StoreError>;
    /// What `user` allowed `client`, if they signed in to it.
    async fn oidc_app(&self, user: &UserId, client: &str) -> Result<Option<OidcApp>, StoreError>;
    /// The apps `user` signed in to, most recently used first.
    async fn oidc_apps(&self, user: &UserId) -> Result<Vec<OidcApp>, StoreError>;
    /// Forgets an app of `user` and revokes every token it holds for them; false when none.
    async fn remove_oidc_app(&self, user: &UserId, client: &str) -> Result<bool, StoreError>;
    /// Stores signing keys sealed again under the newest key of the key file.
    async fn reseal_signing_keys(&self, rows: Vec<(String, Vec<u8>)>) -> Result<(), StoreError>;
}
