//! The records the Store port speaks in: accounts, credentials, challenges, sessions, devices,
//! activity, API keys, sent codes, notices, and the attempt a code check settles. Plain data; the
//! rules about them live in the service and in each store's transactions.

use nidan_domain::{Method, SecondStep};

use crate::courier::{Channel, Locale};
use crate::ids::{ApiKeyId, CredentialId, DeviceId, SessionId, UserId};

use super::UnixTime;

/// An account as stored.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Its id.
    pub id: UserId,
    /// Normalised sign-in email.
    pub email: String,
    /// Argon2id PHC string; `None` for app-only accounts created without a password.
    pub password_hash: Option<String>,
    /// Whether two-step is switched on (meaningful only when a method is enrolled).
    pub two_step_enabled: bool,
    /// The method offered first at sign-in.
    pub default_method: Option<Method>,
    /// Consecutive failed second-factor attempts (all paths, all nodes).
    pub failed_attempts: u32,
    /// When the last failed attempt was recorded.
    pub last_failure_at: Option<UnixTime>,
    /// Language of emails and notices.
    pub locale: Locale,
    /// Creation time.
    pub created_at: UnixTime,
    /// When support disabled it (it cannot sign in or be verified), if it is disabled.
    pub disabled_at: Option<UnixTime>,
    /// While two-step is off: when it turns back on by itself, if it does.
    pub two_step_off_until: Option<UnixTime>,
}

/// A new account.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Its id.
    pub id: UserId,
    /// Normalised sign-in email.
    pub email: String,
    /// Argon2id PHC string, if the account has a password.
    pub password_hash: Option<String>,
    /// Language of emails and notices.
    pub locale: Locale,
    /// Creation time.
    pub created_at: UnixTime,
}

/// An authenticator-app credential: the seed stays sealed (AEAD) at rest.
#[derive(Clone, Debug)]
pub struct TotpCredential {
    /// Its id (also part of the seal's associated data).
    pub id: CredentialId,
    /// Its owner (also part of the seal's associated data).
    pub user_id: UserId,
    /// The sealed seed: key version, nonce, ciphertext and tag.
    pub sealed_secret: Vec<u8>,
    /// The newest time step ever accepted for it; a code for this step or an older one is a replay.
    pub last_used_step: Option<u64>,
    /// When it was confirmed; `None` while pending.
    pub confirmed_at: Option<UnixTime>,
    /// When the setup was started.
    pub created_at: UnixTime,
}

/// A sign-in challenge: what stands between a right password and a session.
#[derive(Clone, Debug)]
pub struct ChallengeRecord {
    /// SHA-256 of the challenge token the client holds.
    pub digest: [u8; 32],
    /// Whose sign-in it is; never taken from the client.
    pub user_id: UserId,
    /// Creation time.
    pub created_at: UnixTime,
    /// It answers `challenge_expired` from this moment.
    pub expires_at: UnixTime,
    /// Codes evaluated against it so far.
    pub attempts: u32,
    /// Set once it produced a session.
    pub consumed_at: Option<UnixTime>,
    /// Client address at the password step (for the "unfinished sign-in" notice).
    pub ip: String,
    /// Client user agent at the password step.
    pub user_agent: String,
}

/// A signed-in session (token stored only as a digest).
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// Public handle.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Creation time (absolute lifetime counts from here).
    pub created_at: UnixTime,
    /// Last request seen (idle lifetime counts from here).
    pub last_seen_at: UnixTime,
    /// Client address at creation.
    pub ip: String,
    /// Client user agent at creation.
    pub user_agent: String,
    /// What the sign-in proved beyond the password (`None`: the password alone).
    pub second_step: Option<SecondStep>,
}

/// A session as forward-auth checks it: the session, and what the access rules need of its
/// user.
#[derive(Clone, Debug)]
pub struct GateSession {
    /// The session.
    pub session: SessionRecord,
    /// The user's sign-in email.
    pub email: String,
    /// The account is disabled.
    pub disabled: bool,
    /// The account has two-step verification on.
    pub two_step_on: bool,
    /// The user's groups, sorted.
    pub groups: Vec<String>,
}

/// A session to create, with its token digest.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The record.
    pub record: SessionRecord,
    /// SHA-256 of the bearer token.
    pub digest: [u8; 32],
}

/// A remembered device (token stored only as a digest).
#[derive(Clone, Debug)]
pub struct DeviceRecord {
    /// Public handle.
    pub id: DeviceId,
    /// Owner: the token skips the second step for this user only.
    pub user_id: UserId,
    /// A label derived from the user agent.
    pub name: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last time it skipped a second step.
    pub last_used_at: Option<UnixTime>,
    /// Address it was last used from.
    pub last_ip: String,
    /// It stops working at this time.
    pub expires_at: UnixTime,
}

/// A device to remember, with its token digest.
#[derive(Clone, Debug)]
pub struct NewDevice {
    /// The record.
    pub record: DeviceRecord,
    /// SHA-256 of the device token.
    pub digest: [u8; 32],
}

/// One line of a user's security history. Holds no secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityRecord {
    /// Increasing id; also the pagination cursor.
    pub id: i64,
    /// Whose history.
    pub user_id: UserId,
    /// When.
    pub at: UnixTime,
    /// What happened (`sign_in`, `second_step`, `method_added`, …).
    pub kind: String,
    /// Which method, where one was involved.
    pub method: Option<String>,
    /// `success`, `failure`, or a more precise word (`wrong_password`, `invalid_code`, …).
    pub result: String,
    /// Client address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// Extra words: a support reset's reason, recovery codes left, the app's key name.
    pub detail: Option<String>,
    /// Country of the client address (ISO code, or `unknown`), when a country database is set.
    pub country: Option<String>,
}

/// An activity line to append (the store assigns the id).
#[derive(Clone, Debug)]
pub struct NewActivity {
    /// Whose history.
    pub user_id: UserId,
    /// When.
    pub at: UnixTime,
    /// What happened.
    pub kind: &'static str,
    /// Which method.
    pub method: Option<Method>,
    /// The outcome.
    pub result: &'static str,
    /// Client address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// Extra words (never a secret).
    pub detail: Option<String>,
    /// Country of the client address, when known.
    pub country: Option<String>,
}

/// An app's API key (stored only as a digest).
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    /// Public handle.
    pub id: ApiKeyId,
    /// The operator's name for the app.
    pub name: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// What the key may do, comma-separated: `verify`, `send`, `read`.
    pub scopes: String,
    /// When the key was last used (written at most once a minute per node), if ever.
    pub last_used_at: Option<UnixTime>,
}

impl ApiKeyRecord {
    /// Whether the key carries `scope`.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.split(',').any(|s| s == scope)
    }
}

/// What a code turned out to be, decided before the store settles the attempt.
#[derive(Clone, Debug)]
pub enum Candidate {
    /// A TOTP code matched this step of this credential; the store accepts it only if the step is
    /// newer than the credential's last used step.
    TotpStep {
        /// The credential.
        credential_id: CredentialId,
        /// The matched step.
        step: u64,
    },
    /// A recovery code; the store accepts it only if an unused code of the user has this digest.
    RecoveryDigest([u8; 32]),
    /// A code sent by email or SMS: the store counts one try against the code (at most
    /// `max_attempts`, and only while it is unexpired and unused) and accepts it only if its
    /// keyed hash is `digest`.
    OobCode {
        /// The sent code's id.
        code_id: String,
        /// Keyed hash of the submitted code.
        digest: [u8; 32],
        /// Tries one code allows.
        max_attempts: u32,
    },
    /// A security key's signed answer, verified against the ceremony it answers; the store
    /// accepts it only if the key's counter goes up (or stays at 0, for keys that never count),
    /// and then keeps `credential` (the key with its new counter).
    SecurityKey {
        /// The key.
        key_id: CredentialId,
        /// The counter the answer carried.
        counter: u32,
        /// The key as it is after this use (webauthn-rs's credential, JSON).
        credential: String,
    },
    /// Nothing matched (or only an old, replayed step did).
    Wrong,
}

/// What a successful attempt at a challenge creates, in the same transaction.
#[derive(Clone, Debug)]
pub struct SignInGrant {
    /// The new session.
    pub session: NewSession,
    /// A device to remember, when asked.
    pub device: Option<NewDevice>,
}

/// An account and its second-step methods, as [`super::Checks::account_for_check`] reads them.
#[derive(Clone, Debug)]
pub struct AccountForCheck {
    /// The account.
    pub user: UserRecord,
    /// Its confirmed authenticator-app credential.
    pub totp: Option<TotpCredential>,
    /// Its email and SMS methods, pending and confirmed (as [`super::Credentials::oob_methods`]).
    pub oob: Vec<OobMethod>,
    /// How many security keys and passkeys it has.
    pub webauthn_keys: u32,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

/// One code attempt, settled atomically by [`super::Checks::settle_attempt`].
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Whose account.
    pub user_id: UserId,
    /// The failure count the caller saw when it decided the attempt may go ahead. The store
    /// reserves the attempt with a compare-and-swap on it, so a burst of parallel guesses cannot
    /// get more evaluations than the throttle allows.
    pub seen_failures: u32,
    /// Now.
    pub now: UnixTime,
    /// What the code matched.
    pub candidate: Candidate,
    /// The sign-in challenge it was submitted to, with its attempt cap.
    pub challenge: Option<ChallengeAttempt>,
    /// Activity to write in the same transaction once the attempt settles as accepted or
    /// rejected (never when it raced or the challenge was dead), as [`Attempt::record_for`]
    /// says: one write per code check instead of two, and no check without its record.
    pub record: Option<NewActivity>,
}

impl Attempt {
    /// The activity to write with this attempt now that it settled as `settled`: `record` with
    /// its result set to `success` when accepted, to `replayed` when the store found the factor
    /// already used, and left as the caller's rejection result otherwise.
    pub fn record_for(&self, settled: &Settled) -> Option<NewActivity> {
        let mut event = self.record.clone()?;
        match settled {
            Settled::Accepted { .. } => event.result = "success",
            Settled::Rejected { replayed: true, .. } => event.result = "replayed",
            Settled::Rejected { .. } => {}
            Settled::Raced | Settled::ChallengeDead => return None,
        }
        Some(event)
    }
}

/// The challenge side of an attempt.
#[derive(Clone, Debug)]
pub struct ChallengeAttempt {
    /// The challenge token digest.
    pub digest: [u8; 32],
    /// Codes a challenge may evaluate before it dies.
    pub max_attempts: u32,
    /// Created when the code is right.
    pub grant: SignInGrant,
}

/// How the store settled an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Another attempt for the same account was recorded in between: nothing was written; decide
    /// again from fresh state.
    Raced,
    /// The challenge was expired, consumed or out of attempts: nothing was written.
    ChallengeDead,
    /// The code was right and has been consumed; the failure count is back to zero.
    Accepted {
        /// Recovery codes left, when a recovery code was used.
        recovery_codes_left: Option<u32>,
    },
    /// The code was wrong, or already used; the failure has been counted.
    Rejected {
        /// Consecutive failures now recorded for the account.
        failures: u32,
        /// Attempts the challenge still allows, when there was one.
        challenge_attempts_left: Option<u32>,
        /// The candidate matched but had been consumed already (a replay or a lost race).
        replayed: bool,
    },
}

/// One row of a TOTP seed import, already validated and sealed by the service.
#[derive(Clone, Debug)]
pub struct ImportRow {
    /// The account to create first (without a password) when it does not exist yet.
    pub new_user: Option<NewUser>,
    /// The confirmed credential; it replaces any authenticator app the account had, so running
    /// the same import twice gives the same result. Two-step turns on for the account.
    pub credential: TotpCredential,
}

/// A security key or passkey (WebAuthn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebauthnKey {
    /// Its id.
    pub id: CredentialId,
    /// Owner.
    pub user_id: UserId,
    /// The WebAuthn credential id the authenticator made.
    pub credential_id: Vec<u8>,
    /// The name its owner gave it ("YubiKey 5", "iPhone").
    pub name: String,
    /// Registered as a passkey (a discoverable credential with user verification), so it can
    /// also sign in without a password.
    pub passkey: bool,
    /// The public key, counter and flags, as webauthn-rs keeps them (JSON).
    pub credential: String,
    /// The newest signature counter seen.
    pub counter: u32,
    /// When it was added.
    pub created_at: UnixTime,
    /// When it last signed in.
    pub last_used_at: Option<UnixTime>,
}

/// A WebAuthn ceremony in progress: a registration, a sign-in's second step, or a passkey
/// sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebauthnCeremony {
    /// What it belongs to: `register:<user id>`, `sign-in:<challenge digest, hex>`, or
    /// `passkey:<digest of the browser's ceremony token, hex>`.
    pub binding: String,
    /// Whose; `None` for a passkey sign-in (nobody is known until the passkey answers).
    pub user_id: Option<UserId>,
    /// webauthn-rs's state (the challenge and what it allows), JSON.
    pub state: String,
    /// When it stops being usable.
    pub expires_at: UnixTime,
}

/// An email address or phone number that receives codes (an out-of-band method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OobMethod {
    /// Its id.
    pub id: CredentialId,
    /// Owner.
    pub user_id: UserId,
    /// Email or SMS.
    pub channel: Channel,
    /// Normalised email address or E.164 number.
    pub destination: String,
    /// When a code sent to it was confirmed; `None` while pending.
    pub confirmed_at: Option<UnixTime>,
    /// When it was added.
    pub created_at: UnixTime,
}

/// What a sent code is good for: exactly one thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeBinding {
    /// The second step of one sign-in challenge (by its token digest).
    Challenge([u8; 32]),
    /// Confirming one pending method.
    Enrolment(CredentialId),
    /// Step-up for a sensitive change within one session.
    Session(SessionId),
    /// Confirming a new sign-in email, asked for in one session (a destination not yet
    /// confirmed, capped as enrolments are).
    NewEmail(SessionId),
    /// A code an app asked for (`POST /api/v1/verify/send-code`), checked by that app's key.
    App(ApiKeyId),
}

/// A code sent by email or SMS, stored as a keyed hash.
#[derive(Clone, Debug)]
pub struct OobCode {
    /// Its id (part of the keyed hash).
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// What it is good for.
    pub binding: CodeBinding,
    /// Email or SMS.
    pub channel: Channel,
    /// Where it went.
    pub destination: String,
    /// HMAC-SHA-256 over (id, code) under the hash key.
    pub digest: [u8; 32],
    /// When it was sent.
    pub created_at: UnixTime,
    /// It stops working at this time.
    pub expires_at: UnixTime,
    /// Wrong tries so far (carried over from the code it replaced: a resend never resets it).
    pub attempts: u32,
    /// When it was used, or replaced by a newer code.
    pub used_at: Option<UnixTime>,
    /// The client that asked for it ([`nidan_domain::client_key`]: IPv6 by /64), when known.
    pub client: Option<String>,
}

/// Sending limits, checked and recorded in the same transaction that stores a new code, so
/// parallel requests cannot send more than allowed (SMS costs money; mailboxes can be flooded).
///
/// Every budget belongs to the account that sends, or to the client that asks: no stranger can
/// use up what another account may send to its own confirmed address or number. Sends to a
/// destination not yet confirmed (a setup, where the sender names the destination) are capped
/// further, per account, per client address and over all accounts, because that is where
/// scripted accounts could pump paid SMS to numbers of their choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendLimits {
    /// Seconds between two codes for the same binding.
    pub min_interval_secs: i64,
    /// Codes per account per 15 minutes.
    pub per_account_per_15min: u32,
    /// Codes per account to one destination per 24 hours.
    pub per_destination_per_day: u32,
    /// Codes per account to destinations not yet confirmed, per 24 hours.
    pub unconfirmed_per_account_per_day: u32,
    /// Codes to destinations not yet confirmed per client address (IPv6: per /64), per hour.
    pub unconfirmed_per_client_per_hour: u32,
    /// Codes by SMS to numbers not yet confirmed, all accounts together, per hour.
    pub unconfirmed_sms_per_hour: u32,
    /// Codes by email to addresses not yet confirmed, all accounts together, per hour.
    pub unconfirmed_email_per_hour: u32,
}

/// Which sending limit refused a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendCap {
    /// Too soon after the last code for the same binding.
    Interval,
    /// The account's codes per 15 minutes.
    Account,
    /// The account's codes to this destination per day.
    Destination,
    /// The account's codes to destinations not yet confirmed per day.
    UnconfirmedAccount,
    /// The client address's codes to destinations not yet confirmed per hour.
    UnconfirmedClient,
    /// Codes to destinations not yet confirmed on this channel, all accounts, per hour.
    UnconfirmedGlobal,
}

impl SendCap {
    /// Every cap, in the order they are checked.
    pub const ALL: [SendCap; 6] = [
        SendCap::Interval,
        SendCap::Account,
        SendCap::Destination,
        SendCap::UnconfirmedAccount,
        SendCap::UnconfirmedClient,
        SendCap::UnconfirmedGlobal,
    ];

    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SendCap::Interval => "interval",
            SendCap::Account => "account",
            SendCap::Destination => "destination",
            SendCap::UnconfirmedAccount => "unconfirmed_account",
            SendCap::UnconfirmedClient => "unconfirmed_client",
            SendCap::UnconfirmedGlobal => "unconfirmed_global",
        }
    }
}

/// The answer to [`super::Checks::issue_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issued {
    /// Stored; any earlier live code for the same binding is dead.
    Issued,
    /// Refused by a sending limit; nothing was written.
    TooSoon {
        /// Seconds until a send would be allowed.
        retry_after: u64,
        /// The limit that refused it.
        cap: SendCap,
    },
}

/// Wrong passwords counted for one sign-in email (known or not), by a keyed hash of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PasswordFailures {
    /// Consecutive wrong passwords (and attempts under way).
    pub failures: u32,
    /// When the last one was counted.
    pub last_failure_at: UnixTime,
}

/// A security notice to queue.
#[derive(Clone, Debug)]
pub struct NewNotice {
    /// Whose account.
    pub user_id: UserId,
    /// An address of its own, with its language, instead of the account's current one: the old
    /// address after the sign-in email changed, or the address of an account being deleted (the
    /// notice then outlives the account).
    pub to: Option<(String, Locale)>,
    /// What happened, as JSON of [`crate::courier::NoticeKind`].
    pub kind: String,
    /// When.
    pub at: UnixTime,
    /// Client address, when known.
    pub ip: Option<String>,
    /// Client user agent, when known.
    pub user_agent: Option<String>,
    /// Client country, when known.
    pub country: Option<String>,
}

/// A password reset link, as stored: the token only as its SHA-256 digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordReset {
    /// SHA-256 of the link's token.
    pub digest: [u8; 32],
    /// Whose password.
    pub user_id: UserId,
    /// When it was asked for.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// When it was used, if it was.
    pub used_at: Option<UnixTime>,
    /// The client address that asked for it.
    pub ip: String,
}

/// A queued notice, due for sending, with its recipient.
#[derive(Clone, Debug)]
pub struct QueuedNotice {
    /// Queue id.
    pub id: i64,
    /// The recipient: the notice's own address, or the account's sign-in email.
    pub email: String,
    /// The recipient's language.
    pub locale: Locale,
    /// What happened (JSON of [`crate::courier::NoticeKind`]).
    pub kind: String,
    /// When.
    pub at: UnixTime,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Client country.
    pub country: Option<String>,
    /// Sending attempts so far.
    pub attempts: u32,
}

/// What turning two-step on for the first time writes along with the credential.
#[derive(Clone, Debug)]
pub struct FirstMethod {
    /// The method to offer first at sign-in.
    pub default_method: Method,
    /// Digests of the new recovery codes.
    pub recovery_digests: Vec<[u8; 32]>,
    /// The session that did it; every other session of the user ends.
    pub keep_session: Option<SessionId>,
}

/// What the retention sweep deletes: rows older than each cutoff (Unix seconds), at most
/// `batch` rows per table and call, so that no call holds the writer long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purge {
    /// Activity lines from before this.
    pub activity_before: UnixTime,
    /// Sessions last seen before this (idle too long).
    pub sessions_seen_before: UnixTime,
    /// Sessions started before this (too old).
    pub sessions_started_before: UnixTime,
    /// Challenges that expired before this.
    pub challenges_before: UnixTime,
    /// Codes sent before this.
    pub codes_before: UnixTime,
    /// Reset links that expired before this.
    pub resets_before: UnixTime,
    /// Remembered devices that expired before this.
    pub devices_before: UnixTime,
    /// Sent or given-up notices from before this.
    pub notices_before: UnixTime,
    /// OpenID Connect codes and tokens that expired before this (a used refresh token is kept
    /// until then: a second use must still find it, to revoke its family).
    pub oidc_before: UnixTime,
    /// Most rows deleted per table in one call.
    pub batch: u32,
}

/// An app registered to sign its users in with nidan (OpenID Connect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcClient {
    /// The `client_id`, chosen by the operator.
    pub id: String,
    /// SHA-256 of the client secret; `None` for a public client (PKCE instead).
    pub secret_digest: Option<[u8; 32]>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Skips the consent page.
    pub first_party: bool,
    /// How its ID tokens are signed: `RS256` (what every client supports) or `EdDSA`.
    pub id_token_alg: String,
    /// When it was registered.
    pub created_at: UnixTime,
}

/// A key that signs ID tokens; the private part sealed under the key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// `kid`.
    pub kid: String,
    /// `RS256` or `EdDSA`.
    pub alg: String,
    /// The private key (PKCS#8 DER), sealed.
    pub sealed: Vec<u8>,
    /// The public key as a JWK (JSON).
    pub public_jwk: String,
    /// When it was made.
    pub created_at: UnixTime,
    /// When a newer key took over (it stays published while tokens it signed may live).
    pub retired_at: Option<UnixTime>,
}

/// An authorization code, stored as a digest, with what the token request must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCode {
    /// SHA-256 of the code.
    pub digest: [u8; 32],
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: UserId,
    /// The redirect URI of the authorization request (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE challenge (S256), if one was sent.
    pub code_challenge: Option<String>,
    /// The client's nonce, for the ID token.
    pub nonce: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user signed in.
    pub auth_time: UnixTime,
    /// What that sign-in proved beyond the password.
    pub second_step: Option<SecondStep>,
    /// Issued at.
    pub created_at: UnixTime,
    /// Usable until.
    pub expires_at: UnixTime,
}

/// What kind of token an [`OidcToken`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token (userinfo).
    Access,
    /// A refresh token (one use, then its successor).
    Refresh,
}

/// An access or refresh token, stored as a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcToken {
    /// SHA-256 of the token.
    pub digest: [u8; 32],
    /// Access or refresh.
    pub kind: TokenKind,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: UserId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Every token descending from one authorization code shares it (revoked together).
    pub family: String,
    /// When the user signed in.
    pub auth_time: UnixTime,
    /// What that sign-in proved beyond the password.
    pub second_step: Option<SecondStep>,
    /// Issued at.
    pub created_at: UnixTime,
    /// Usable until.
    pub expires_at: UnixTime,
}

/// The answer to a one-time use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeemed<T> {
    /// First use, within its lifetime: here it is.
    First(T),
    /// Used before: what it issued is revoked.
    Again,
    /// Unknown, expired, or of another client.
    Invalid,
}

/// The family of the tokens issued from the authorization code with this digest: its hex.
pub fn code_family(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An app a user signed in to with nidan, as the security page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcApp {
    /// The client.
    pub client_id: String,
    /// What it was allowed, space-separated.
    pub scope: String,
    /// When the user allowed it on the consent page (`None`: a first-party app, never asked).
    pub consented_at: Option<UnixTime>,
    /// When it last signed the user in.
    pub last_used_at: UnixTime,
}

/// Where a webhook is in the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookCursor {
    /// The id of the last history line it is done with.
    pub last_id: i64,
    /// Failed deliveries in a row.
    pub attempts: u32,
    /// Not before this time (after a failure); 0 when due.
    pub next_at: UnixTime,
}
