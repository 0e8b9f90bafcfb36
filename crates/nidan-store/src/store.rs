//! The `Store` port, once for both backends: each method says which operation of `ops/` it runs
//! and how (a read, the check's read, a write in its own transaction, a single statement), and
//! the backend runs it its way (see `db.rs`).
//!
//! The methods are one line each in the table of [`store!`]: the method's signature, then how it
//! runs (`run`: it keeps what it did; `step`: it may undo it), the arguments it takes along (owned,
//! so that they can move to SQLite's writer thread or be read again by a PostgreSQL retry), and
//! the operation called with them.

use async_trait::async_trait;
use nidan_domain::Method;
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::stores::*;
use nidan_service::ports::{
    AccountForCheck, ActivityRecord, ApiKeyRecord, Attempt, AuthCode, ChallengeRecord, CodeBinding,
    DeviceRecord, FirstMethod, GateSession, ImportRow, Issued, NewActivity, NewNotice, NewSession,
    NewUser, OidcApp, OidcClient, OidcToken, OobCode, OobMethod, PasswordFailures, PasswordReset,
    Purge, QueuedNotice, Redeemed, SendLimits, SessionRecord, Settled, SigningKey, TotpCredential,
    UserRecord, WebauthnCeremony, WebauthnKey, WebhookCursor,
};
use nidan_service::{ApiKeyId, CredentialId, DeviceId, SessionId, StoreError, UnixTime, UserId};

use crate::db::{Backend, Body, Conn, Native, Run, Step};
use crate::ops::{accounts, check, codes, credentials, notices, oidc, sessions, webauthn};
use crate::postgres::Pg;
use crate::sqlite::Lite;
use crate::{args, sql};

/// A store on one backend.
#[derive(Clone, Debug)]
pub(crate) struct Db<B>(pub(crate) B);

impl<B: Backend> Db<B> {
    /// Runs an operation (one that may undo what it did, [`Step::Rollback`]: the others answer
    /// [`Step::Commit`]).
    async fn step<A, T>(
        &self,
        how: Run,
        args: A,
        body: impl for<'c, 'a> Fn(&'a mut B::Conn<'c>, &'a A) -> B::Body<'a, T> + Send + Sync + 'static,
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
    body: impl for<'c, 'a> Fn(&'a mut B::Conn<'c>, &'a A) -> B::Body<'a, T> + Send + Sync + 'static,
) -> Body<B, A, T> {
    Box::new(body)
}

/// Writes the impls of the store's traits: for each trait, the methods written out (in braces,
/// when there are any), then a table of lines `name(params) -> answer: kind How(args) |c, a| op;`
/// (see the module docs).
macro_rules! store {
    // It keeps whatever it did (reads, and writes that never undo).
    (@call $self:ident run $how:ident($args:expr) |$c:ident, $a:pat_param| $op:expr) => {
        $self
            .step(Run::$how, $args, |$c, $a| {
                Box::pin(async move { $op.await.map(Step::Commit) })
            })
            .await
    };
    // It may undo what it did ([`Step::Rollback`]).
    (@call $self:ident step $how:ident($args:expr) |$c:ident, $a:pat_param| $op:expr) => {
        $self.step(Run::$how, $args, |$c, $a| Box::pin($op)).await
    };
    // Each trait for each backend (not once over any `Backend`: a body's future is boxed as the
    // backend's own `Body` type, which only a named backend can say).
    (@for [$($backend:ty),*] $traits:tt) => {$(store!(@impl $backend $traits);)*};
    (@impl $backend:ty {$(
        $trait:ident {
            $({ $($item:item)* })?
            $( $name:ident($($p:ident: $t:ty),*) -> $ret:ty:
                $kind:ident $how:ident($args:expr) |$c:ident, $a:pat_param| $op:expr; )*
        }
    )*}) => {$(
        #[async_trait]
        impl $trait for Db<$backend> {
            $(
                async fn $name(&self $(, $p: $t)*) -> Result<$ret, StoreError> {
                    store!(@call self $kind $how($args) |$c, $a| $op)
                }
            )*
            $($($item)*)?
        }
    )*};
}

store! { @for [Lite, Pg] {
    Store {
        {
            async fn ping(&self) -> Result<(), StoreError> {
                store!(@call self run Read(()) |c, ()| async move {
                    c.row(sql!("SELECT 1"), args![], &|_| Ok(())).await.map(drop)
                })
            }

            fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
                self.0.register_metrics(registry);
            }
        }
    }
    Accounts {
        {
            async fn user_ids_by_email(
                &self,
                emails: &[String],
            ) -> Result<Vec<(String, UserId)>, StoreError> {
                self.0.user_ids_by_email(emails).await
            }
        }
        create_user(u: NewUser) -> (): run Single(u) |c, u| accounts::create_user(c, u);
        user_by_email(email: &str) -> Option<UserRecord>:
            run Read(email.to_owned()) |c, e| accounts::user_by_email(c, e);
        user_by_id(id: &UserId) -> Option<UserRecord>:
            run Read(id.clone()) |c, id| accounts::user_by_id(c, id);
        set_password_hash(id: &UserId, hash: Option<String>, keep: Option<&SessionId>) -> ():
            run Write((id.clone(), hash, keep.cloned())) |c, (id, h, keep)|
                accounts::set_password_hash(c, id, h.as_deref(), keep.as_ref());
        create_password_reset(r: PasswordReset, max_per_hour: u32) -> bool:
            run Write((r, max_per_hour)) |c, (r, max)| accounts::create_password_reset(c, r, *max);
        password_reset(digest: &[u8; 32]) -> Option<PasswordReset>:
            run Read(*digest) |c, d| accounts::password_reset(c, d);
        discard_password_reset(digest: &[u8; 32]) -> ():
            run Single(*digest) |c, d| accounts::discard_password_reset(c, d);
        reset_password(digest: &[u8; 32], now: UnixTime, hash: String) -> Option<UserId>:
            run Write((*digest, now, hash)) |c, (d, now, h)| accounts::reset_password(c, d, *now, h);
        set_email(id: &UserId, email: &str) -> ():
            run Single((id.clone(), email.to_owned())) |c, (id, e)| accounts::set_email(c, id, e);
        delete_user(id: &UserId, last: NewNotice) -> bool:
            run Write((id.clone(), last)) |c, (id, n)| accounts::delete_user(c, id, n);
        set_two_step_enabled(id: &UserId, on: bool, keep: Option<&SessionId>, until: Option<UnixTime>)
            -> ():
            run Write((id.clone(), on, keep.cloned(), until)) |c, (id, on, keep, until)|
                accounts::set_two_step_enabled(c, id, *on, keep.as_ref(), *until);
        due_two_step_back_on(now: UnixTime, limit: u32) -> Vec<UserId>:
            run Read((now, limit)) |c, (now, n)| accounts::due_two_step_back_on(c, *now, *n);
        two_step_back_on(id: &UserId, now: UnixTime) -> bool:
            run Write((id.clone(), now)) |c, (id, now)| accounts::two_step_back_on(c, id, *now);
        set_disabled(id: &UserId, at: Option<UnixTime>) -> bool:
            run Write((id.clone(), at)) |c, (id, at)| accounts::set_disabled(c, id, *at);
        list_users(query: &str, after: &str, limit: u32) -> Vec<(UserRecord, bool)>:
            run Read((query.to_owned(), after.to_owned(), limit)) |c, (q, a, n)|
                accounts::list_users(c, q, a, *n);
        add_group(id: &UserId, name: &str) -> bool:
            run Single((id.clone(), name.to_owned())) |c, (id, n)| accounts::add_group(c, id, n);
        remove_group(id: &UserId, name: &str) -> bool:
            run Single((id.clone(), name.to_owned())) |c, (id, n)| accounts::remove_group(c, id, n);
        groups(id: &UserId) -> Vec<String>: run Read(id.clone()) |c, id| accounts::groups(c, id);
        set_default_method(user: &UserId, method: Method) -> ():
            run Single((user.clone(), method)) |c, (u, m)|
                accounts::set_default_method(c, u, m.as_str());
        set_locale(user: &UserId, locale: Locale) -> ():
            run Single((user.clone(), locale)) |c, (u, l)| accounts::set_locale(c, u, l.as_str());
        password_failures(subject: &[u8; 32]) -> PasswordFailures:
            run Read(*subject) |c, s| accounts::password_failures(c, s);
        reserve_password_attempt(subject: &[u8; 32], seen: PasswordFailures, now: UnixTime) -> bool:
            run Single((*subject, seen, now)) |c, (s, seen, now)|
                accounts::reserve_password_attempt(c, s, *seen, *now);
        clear_code_failures(user: &UserId) -> ():
            run Single(user.clone()) |c, u| accounts::clear_code_failures(c, u);
        clear_password_failures(subject: &[u8; 32]) -> ():
            run Single(*subject) |c, s| accounts::clear_password_failures(c, s);
    }
    Credentials {
        {
            async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
                crate::import_rows::each_account_once(&rows)?;
                self.0.import_totp(rows).await
            }
        }
        put_pending_totp(t: TotpCredential) -> ():
            run Write(t) |c, t| credentials::put_pending_totp(c, t);
        pending_totp(user: &UserId) -> Option<TotpCredential>:
            run Read(user.clone()) |c, u| credentials::pending_totp(c, u);
        active_totp(user: &UserId) -> Option<TotpCredential>:
            run Read(user.clone()) |c, u| credentials::active_totp(c, u);
        activate_totp(user: &UserId, id: &CredentialId, now: UnixTime, first: Option<FirstMethod>)
            -> bool:
            step Write((user.clone(), id.clone(), now, first)) |c, (u, id, now, first)|
                credentials::activate_totp(c, u, id, *now, first.as_ref());
        delete_totp(user: &UserId) -> (): run Write(user.clone()) |c, u| credentials::delete_totp(c, u);
        all_sealed_secrets() -> Vec<(CredentialId, UserId, Vec<u8>)>:
            run Read(()) |c, ()| credentials::all_sealed_secrets(c);
        reseal_secrets(rows: Vec<(CredentialId, Vec<u8>)>) -> ():
            run Write(rows) |c, rows| credentials::reseal_secrets(c, rows);
        put_pending_oob(m: OobMethod) -> (): run Write(m) |c, m| codes::put_pending_oob(c, m);
        oob_methods(user: &UserId) -> Vec<OobMethod>:
            run Read(user.clone()) |c, u| codes::oob_methods(c, u);
        activate_oob(user: &UserId, id: &CredentialId, now: UnixTime, first: Option<FirstMethod>)
            -> bool:
            step Write((user.clone(), id.clone(), now, first)) |c, (u, id, now, first)|
                codes::activate_oob(c, u, id, *now, first.as_ref());
        delete_oob(user: &UserId, channel: Channel) -> ():
            run Write((user.clone(), channel)) |c, (u, ch)| codes::delete_oob(c, u, *ch);
        replace_recovery_codes(user: &UserId, digests: Vec<[u8; 32]>, now: UnixTime) -> ():
            run Write((user.clone(), digests, now)) |c, (u, d, now)|
                credentials::replace_recovery_codes(c, u, d, *now);
        recovery_codes_left(user: &UserId) -> u32:
            run Read(user.clone()) |c, u| credentials::recovery_codes_left(c, u);
        remove_two_step(user: &UserId, end_sessions: bool) -> ():
            run Write((user.clone(), end_sessions)) |c, (u, end)|
                credentials::remove_two_step(c, u, *end);
    }
    SecurityKeys {
        put_webauthn_ceremony(w: WebauthnCeremony) -> ():
            run Single(w) |c, w| webauthn::put_webauthn_ceremony(c, w);
        take_webauthn_ceremony(binding: &str, now: UnixTime) -> Option<WebauthnCeremony>:
            run Single((binding.to_owned(), now)) |c, (b, now)|
                webauthn::take_webauthn_ceremony(c, b, *now);
        webauthn_keys(user: &UserId) -> Vec<WebauthnKey>:
            run Read(user.clone()) |c, u| webauthn::webauthn_keys(c, u);
        webauthn_key_by_credential_id(id: &[u8]) -> Option<WebauthnKey>:
            run Read(id.to_vec()) |c, id| webauthn::webauthn_key_by_credential_id(c, id);
        add_webauthn_key(k: WebauthnKey, first: Option<FirstMethod>) -> ():
            run Write((k, first)) |c, (k, first)| webauthn::add_webauthn_key(c, k, first.as_ref());
        delete_webauthn_key(user: &UserId, id: &CredentialId) -> bool:
            run Write((user.clone(), id.clone())) |c, (u, id)| webauthn::delete_webauthn_key(c, u, id);
    }
    Checks {
        account_for_check(email: &str) -> Option<AccountForCheck>:
            run CheckRead(email.to_owned()) |c, e| check::account_for_check(c, e);
        challenge_for_check(digest: &[u8; 32]) -> Option<(ChallengeRecord, AccountForCheck)>:
            run CheckRead(*digest) |c, d| check::challenge_for_check(c, d);
        settle_attempt(attempt: Attempt) -> Settled:
            step WriteWhole(attempt) |c, a| check::settle_and_record(c, a);
        create_challenge(ch: ChallengeRecord) -> ():
            run Single(ch) |c, ch| sessions::create_challenge(c, ch);
        challenge_by_digest(digest: &[u8; 32]) -> Option<ChallengeRecord>:
            run Read(*digest) |c, d| sessions::challenge_by_digest(c, d);
        unfinished_challenges(cutoff: UnixTime, limit: u32) -> Vec<ChallengeRecord>:
            run Read((cutoff, limit)) |c, (t, n)| sessions::unfinished_challenges(c, *t, *n);
        mark_challenge_reported(digest: &[u8; 32], now: UnixTime) -> ():
            run Single((*digest, now)) |c, (d, now)| sessions::mark_challenge_reported(c, d, *now);
        issue_code(code: OobCode, limits: SendLimits) -> Issued:
            step Write((code, limits)) |c, (code, limits)| codes::issue_code(c, code, limits);
        discard_code(id: &str) -> (): run Single(id.to_owned()) |c, id| codes::discard_code(c, id);
        live_code(user: &UserId, binding: &CodeBinding) -> Option<OobCode>:
            run Read((user.clone(), binding.clone())) |c, (u, b)| codes::live_code(c, u, b);
    }
    Sessions {
        create_session(s: NewSession) -> (): run Single(s) |c, s| check::insert_session(c, s);
        session_by_digest(digest: &[u8; 32]) -> Option<SessionRecord>:
            run Read(*digest) |c, d| sessions::session_by_digest(c, d);
        gate_session(digest: &[u8; 32]) -> Option<GateSession>:
            run Read(*digest) |c, d| sessions::gate_session(c, d);
        touch_session(id: &SessionId, now: UnixTime) -> ():
            run Single((id.clone(), now)) |c, (id, now)| sessions::touch_session(c, id, *now);
        list_sessions(user: &UserId) -> Vec<SessionRecord>:
            run Read(user.clone()) |c, u| sessions::list_sessions(c, u);
        delete_session(user: &UserId, id: &SessionId) -> bool:
            run Single((user.clone(), id.clone())) |c, (u, id)| sessions::delete_session(c, u, id);
        device_by_digest(digest: &[u8; 32]) -> Option<DeviceRecord>:
            run Read(*digest) |c, d| sessions::device_by_digest(c, d);
        sign_in_with_device(device: &DeviceId, now: UnixTime, ip: &str, session: NewSession) -> bool:
            step Write((device.clone(), now, ip.to_owned(), session)) |c, (d, now, ip, s)|
                sessions::sign_in_with_device(c, d, *now, ip, s);
        list_devices(user: &UserId) -> Vec<DeviceRecord>:
            run Read(user.clone()) |c, u| sessions::list_devices(c, u);
        delete_device(user: &UserId, id: &DeviceId) -> bool:
            run Single((user.clone(), id.clone())) |c, (u, id)| sessions::delete_device(c, u, id);
        delete_devices(user: &UserId) -> u64:
            run Single(user.clone()) |c, u| accounts::forget_devices(c, u);
    }
    Activity {
        append_activity(e: NewActivity) -> (): run Single(e) |c, e| check::insert_activity(c, e);
        list_activity(user: &UserId, limit: u32, before: Option<i64>) -> Vec<ActivityRecord>:
            run Read((user.clone(), limit, before)) |c, (u, n, b)|
                sessions::list_activity(c, u, *n, *b);
        activity_between(since: UnixTime, until: UnixTime, after: i64, limit: u32)
            -> Vec<(ActivityRecord, String)>:
            run Read((since, until, after, limit)) |c, (s, u, a, n)|
                sessions::activity_between(c, *s, *u, *a, *n);
        has_activity(user: &UserId, kind: &str, detail: &str) -> bool:
            run Read((user.clone(), kind.to_owned(), detail.to_owned())) |c, (u, k, d)|
                sessions::has_activity(c, u, k, d);
    }
    Notices {
        {
            async fn due_notices(
                &self,
                now: UnixTime,
                limit: u32,
            ) -> Result<Vec<QueuedNotice>, StoreError> {
                self.0.due_notices(now, limit).await
            }
        }
        enqueue_notice(n: NewNotice) -> (): run Single(n) |c, n| notices::enqueue_notice(c, n);
        pending_notices() -> u64: run Read(()) |c, ()| notices::pending_notices(c);
        notice_sent(id: i64, now: UnixTime) -> ():
            run Single((id, now)) |c, (id, now)| notices::notice_sent(c, *id, *now);
        notice_failed(id: i64, retry_at: Option<UnixTime>, error: &str) -> ():
            run Single((id, retry_at, error.to_owned())) |c, (id, at, e)|
                notices::notice_failed(c, *id, *at, e);
        purge(rules: Purge) -> u64: run Write(rules) |c, p| notices::purge(c, p);
        webhook_cursor(name: &str) -> WebhookCursor:
            run Write(name.to_owned()) |c, n| notices::webhook_cursor(c, n);
        advance_webhook(name: &str, from: i64, to: i64) -> bool:
            run Single((name.to_owned(), from, to)) |c, (n, f, t)|
                notices::advance_webhook(c, n, *f, *t);
        webhook_failed(name: &str, attempts: u32, next_at: UnixTime, error: &str) -> ():
            run Single((name.to_owned(), attempts, next_at, error.to_owned())) |c, (n, a, t, e)|
                notices::webhook_failed(c, n, *a, *t, e);
    }
    ApiKeys {
        create_api_key(key: ApiKeyRecord, digest: [u8; 32]) -> ():
            run Single((key, digest)) |c, (k, d)| accounts::create_api_key(c, k, d);
        api_key_by_digest(digest: &[u8; 32]) -> Option<ApiKeyRecord>:
            run Read(*digest) |c, d| accounts::api_key_by_digest(c, d);
        revoke_api_key(name: &str, now: UnixTime) -> bool:
            run Single((name.to_owned(), now)) |c, (n, now)| accounts::revoke_api_key(c, n, *now);
        list_api_keys() -> Vec<ApiKeyRecord>: run Read(()) |c, ()| accounts::list_api_keys(c);
        touch_api_key(id: &ApiKeyId, now: UnixTime) -> ():
            run Single((id.clone(), now)) |c, (id, now)| accounts::touch_api_key(c, id, *now);
    }
    Oidc {
        create_oidc_client(client: OidcClient) -> ():
            run Single(client) |c, cl| oidc::create_client(c, cl);
        oidc_client(id: &str) -> Option<OidcClient>:
            run Read(id.to_owned()) |c, id| oidc::client_by_id(c, id);
        list_oidc_clients() -> Vec<OidcClient>: run Read(()) |c, ()| oidc::list_clients(c);
        delete_oidc_client(id: &str) -> bool:
            run Single(id.to_owned()) |c, id| oidc::delete_client(c, id);
        put_signing_keys(keys: Vec<SigningKey>, now: UnixTime) -> ():
            run Write((keys, now)) |c, (k, now)| oidc::put_signing_keys(c, k, *now);
        signing_keys() -> Vec<SigningKey>: run Read(()) |c, ()| oidc::signing_keys(c);
        first_signing_keys(keys: Vec<SigningKey>) -> bool:
            run Write(keys) |c, k| oidc::first_signing_keys(c, k);
        create_auth_code(code: AuthCode) -> ():
            run Single(code) |c, code| oidc::create_code(c, code);
        redeem_auth_code(digest: &[u8; 32], client: &str, now: UnixTime) -> Redeemed<AuthCode>:
            run Write((*digest, client.to_owned(), now)) |c, (d, cl, now)|
                oidc::redeem_code(c, d, cl, *now);
        issue_oidc_tokens(tokens: Vec<OidcToken>) -> ():
            run Write(tokens) |c, t| oidc::insert_tokens(c, t);
        oidc_token(digest: &[u8; 32]) -> Option<OidcToken>:
            run Read(*digest) |c, d| oidc::token_by_digest(c, d);
        rotate_refresh_token(digest: &[u8; 32], client: &str, now: UnixTime, successors: Vec<OidcToken>)
            -> Redeemed<OidcToken>:
            step Write((*digest, client.to_owned(), now, successors)) |c, (d, cl, now, s)|
                oidc::rotate_refresh(c, d, cl, *now, s);
        revoke_oidc_token(digest: &[u8; 32], client: &str) -> bool:
            run Write((*digest, client.to_owned())) |c, (d, cl)| oidc::revoke_token(c, d, cl);
        record_oidc_app(user: &UserId, app: OidcApp) -> ():
            run Single((user.clone(), app)) |c, (u, a)| oidc::record_app(c, u, a);
        oidc_app(user: &UserId, client: &str) -> Option<OidcApp>:
            run Read((user.clone(), client.to_owned())) |c, (u, cl)| oidc::app_of(c, u, cl);
        oidc_apps(user: &UserId) -> Vec<OidcApp>:
            run Read(user.clone()) |c, u| oidc::apps_of(c, u);
        remove_oidc_app(user: &UserId, client: &str) -> bool:
            run Write((user.clone(), client.to_owned())) |c, (u, cl)| oidc::remove_app(c, u, cl);
        reseal_signing_keys(rows: Vec<(String, Vec<u8>)>) -> ():
            run Write(rows) |c, rows| oidc::reseal_keys(c, rows);
    }
}}
