//! Sign-up and sign-in: the password step, the challenge, and the second step.
//!
//! Whether an account exists, or has two-step on, is revealed only after the right password:
//! unknown emails run a dummy Argon2 check and get the same answer as a wrong password. The
//! challenge token is never a session; a new session token is minted only when the second step
//! succeeds, in the same transaction that consumes the code.

use nidan_domain::{BearerToken, EmailAddress, Method, SecondStep, keyed_hash, token_digest};
use zeroize::Zeroizing;

use crate::attempt::{CodeCheck, Expect, Given};
use crate::courier::{Channel, CodePurpose, Locale, NoticeKind};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{
    ChallengeAttempt, ChallengeRecord, CodeBinding, DeviceRecord, NewActivity, NewDevice,
    NewSession, NewUser, OobMethod, SessionRecord, SignInGrant, TotpCredential, UserRecord,
};
use crate::{ClientInfo, DeviceId, Service, SessionId, UserId, token_prefix};

/// The keyed-hash purpose of the per-account password limit's subjects.
const PASSWORD_FAILURES_PURPOSE: &str = "password-failures";

/// The account as a client may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    /// Id.
    pub id: UserId,
    /// Sign-in email.
    pub email: String,
}

/// The answer to a right password.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: two-step is not on, or a remembered device skipped it.
    SignedIn {
        /// The new session's bearer token.
        session_token: BearerToken,
        /// Who signed in.
        user: UserSummary,
    },
    /// The second step is needed.
    SecondFactorRequired {
        /// The challenge token (not a session).
        challenge_token: BearerToken,
        /// Methods the account can use, in display order.
        methods: Vec<Method>,
        /// The method to offer first.
        default_method: Method,
        /// Seconds the challenge lives.
        expires_in: i64,
        /// Where the code went (masked), when the default method sends one.
        code_sent_to: Option<String>,
        /// Why no code went out although one should have (`delivery_failed`, `rate_limited`).
        send_error: Option<&'static str>,
        /// Why a second step is asked for beyond the account's own: `new_country` (a sign-in
        /// from outside the operator's home countries, `[risk]`).
        reason: Option<&'static str>,
    },
}

/// What a second step presents.
#[derive(Clone, Copy, Debug)]
pub enum Answer<'a> {
    /// A code, as typed.
    Code(&'a str),
    /// A security key's answer to the sign-in's WebAuthn options (`navigator.credentials.get`,
    /// as `toJSON()` gives it).
    Key(&'a serde_json::Value),
}

/// The answer to a right second-step code.
#[derive(Debug)]
pub struct SecondStepOutcome {
    /// The new session's bearer token.
    pub session_token: BearerToken,
    /// The remembered-device token, when asked for.
    pub device_token: Option<BearerToken>,
    /// Recovery codes left, when one was used.
    pub recovery_codes_left: Option<u32>,
}

/// What an account has enrolled.
#[derive(Clone, Debug)]
pub(crate) struct Enrolment {
    pub totp: Option<TotpCredential>,
    /// Confirmed email addresses and phone numbers.
    pub oob: Vec<OobMethod>,
    pub recovery_codes_left: u32,
    /// Security keys and passkeys.
    pub webauthn_keys: u32,
}

impl Enrolment {
    /// From the stored parts; only confirmed email and SMS methods count.
    pub(crate) fn new(
        totp: Option<TotpCredential>,
        oob: Vec<OobMethod>,
        recovery_codes_left: u32,
        webauthn_keys: u32,
    ) -> Self {
        Self {
            webauthn_keys,
            totp,
            oob: oob
                .into_iter()
                .filter(|m| m.confirmed_at.is_some())
                .collect(),
            recovery_codes_left,
        }
    }

    /// Methods usable for a second step, in display order: a security key first (nothing
    /// phishes it), recovery codes last.
    pub(crate) fn methods(&self) -> Vec<Method> {
        let mut m = Vec::new();
        if self.webauthn_keys > 0 {
            m.push(Method::Webauthn);
        }
        if self.totp.is_some() {
            m.push(Method::Totp);
        }
        for (channel, method) in [(Channel::Sms, Method::Sms), (Channel::Email, Method::Email)] {
            if self.oob.iter().any(|o| o.channel == channel) {
                m.push(method);
            }
        }
        if self.recovery_codes_left > 0 {
            m.push(Method::Recovery);
        }
        m
    }
    /// Whether any real method (not just recovery codes) is enrolled.
    pub(crate) fn has_method(&self) -> bool {
        self.totp.is_some() || !self.oob.is_empty() || self.webauthn_keys > 0
    }
}

/// A sign-in challenge that can still be answered, with its account and what it has enrolled.
pub(crate) struct LiveChallenge {
    pub record: ChallengeRecord,
    pub user: UserRecord,
    pub enrolment: Enrolment,
    /// The sign-in comes from outside the home countries (`[risk]`).
    pub abroad: bool,
}

/// Whether the account's own second step applies: two-step is on and a method is enrolled.
pub(crate) fn two_step_on(user: &UserRecord, enrolment: &Enrolment) -> bool {
    user.two_step_enabled && enrolment.has_method()
}

/// Cuts client-supplied text to a sane length for storage.
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

impl Service {
    pub(crate) async fn enrolment(&self, user: &UserId) -> ServiceResult<Enrolment> {
        let totp = self.store_ref().active_totp(user).await?;
        let oob = self.store_ref().oob_methods(user).await?;
        let recovery_codes_left = self.store_ref().recovery_codes_left(user).await?;
        let keys = self.store_ref().webauthn_keys(user).await?.len();
        Ok(Enrolment::new(
            totp,
            oob,
            recovery_codes_left,
            u32::try_from(keys).unwrap_or(u32::MAX),
        ))
    }

    /// An activity line as it will be stored (client details clipped, country looked up).
    pub(crate) fn activity_line(
        &self,
        user: &UserId,
        kind: &'static str,
        method: Option<Method>,
        result: &'static str,
        client: &ClientInfo,
        detail: Option<String>,
    ) -> NewActivity {
        tracing::info!(
            target: "nidan::audit",
            event = kind,
            result,
            user = %user,
            method = method.map(Method::as_str),
            client = %client.ip,
            detail = detail.as_deref(),
            "security event"
        );
        NewActivity {
            user_id: user.clone(),
            at: self.now(),
            kind,
            method,
            result,
            ip: clip(&client.ip, 64),
            user_agent: clip(&client.user_agent, 256),
            detail,
            country: self.country_of(&client.ip),
        }
    }

    pub(crate) async fn record(
        &self,
        user: &UserId,
        kind: &'static str,
        method: Option<Method>,
        result: &'static str,
        client: &ClientInfo,
        detail: Option<String>,
    ) {
        let event = self.activity_line(user, kind, method, result, client, detail);
        if let Err(e) = self.store_ref().append_activity(event).await {
            tracing::error!(error = %e, kind, "could not record activity");
        }
    }

    pub(crate) fn new_session(
        &self,
        user: &UserId,
        client: &ClientInfo,
        second_step: Option<SecondStep>,
    ) -> (BearerToken, NewSession) {
        let token = self.new_token(token_prefix::SESSION);
        let now = self.now();
        let record = SessionRecord {
            id: SessionId::from_random(self.random()),
            user_id: user.clone(),
            created_at: now,
            last_seen_at: now,
            ip: clip(&client.ip, 64),
            user_agent: clip(&client.user_agent, 256),
            second_step,
        };
        let digest = token.digest();
        (token, NewSession { record, digest })
    }

    /// Hashes a password that [`Service::check_new_password`] accepted.
    pub(crate) async fn hash_password(&self, password: Zeroizing<String>) -> ServiceResult<String> {
        self.inner.hasher.hash(password, self.random()).await
    }

    /// Creates an account with a password (open sign-up); `locale` is the language of its
    /// emails (from the sign-up request's `Accept-Language`).
    pub async fn sign_up(
        &self,
        email: &str,
        password: Zeroizing<String>,
        locale: Locale,
    ) -> ServiceResult<UserSummary> {
        if !self.inner.policy.signup_open {
            return Err(ServiceError::Forbidden("sign-up is closed on this server"));
        }
        self.create_account(email, Some(password), locale).await
    }

    pub(crate) async fn create_account(
        &self,
        email: &str,
        password: Option<Zeroizing<String>>,
        locale: Locale,
    ) -> ServiceResult<UserSummary> {
        let email = EmailAddress::parse(email)
            .map_err(|e| ServiceError::InvalidRequest(format!("email: {e}")))?;
        let password_hash = match password {
            Some(p) => {
                self.check_new_password(&p, email.as_str())?;
                Some(self.hash_password(p).await?)
            }
            None => None,
        };
        let id = UserId::from_random(self.random());
        self.store_ref()
            .create_user(NewUser {
                id: id.clone(),
                email: email.as_str().to_owned(),
                password_hash,
                locale,
                created_at: self.now(),
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    ServiceError::Conflict("an account with this email exists already")
                }
                other => other.into(),
            })?;
        Ok(UserSummary {
            id,
            email: email.as_str().to_owned(),
        })
    }

    /// The methods a sign-in challenge offers. With two-step on: the account's own methods,
    /// exactly as at home, wherever the sign-in comes from (an extra check may only ever add a
    /// step, and these already are one: a code to the sign-in address never stands in for an
    /// enrolled method). Without two-step on: an email code to the sign-in address when the
    /// sign-in comes from abroad, else nothing (no second step).
    pub(crate) fn challenge_methods(
        &self,
        user: &UserRecord,
        enrolment: &Enrolment,
        abroad: bool,
    ) -> Vec<Method> {
        if two_step_on(user, enrolment) {
            enrolment.methods()
        } else if abroad {
            vec![Method::Email]
        } else {
            Vec::new()
        }
    }

    /// Where a sign-in code for `method` goes: with two-step on, only to the enrolled address or
    /// number of that method; without it, from abroad, an email code to the sign-in address.
    pub(crate) fn code_target(
        &self,
        user: &UserRecord,
        enrolment: &Enrolment,
        method: Method,
        abroad: bool,
    ) -> Option<(Channel, String, CodePurpose)> {
        let enrolled = |c: Channel| {
            enrolment
                .oob
                .iter()
                .find(|m| m.channel == c)
                .map(|m| m.destination.clone())
        };
        match method {
            Method::Sms | Method::Email if two_step_on(user, enrolment) => {
                let channel = crate::courier::channel_of(method)?;
                enrolled(channel).map(|d| (channel, d, CodePurpose::SignIn))
            }
            Method::Email if abroad => {
                Some((Channel::Email, user.email.clone(), CodePurpose::NewCountry))
            }
            _ => None,
        }
    }

    /// Checks a user's password (for step-up), against the dummy hash when there is none.
    pub(crate) async fn password_matches(
        &self,
        user: &UserRecord,
        password: Zeroizing<String>,
    ) -> ServiceResult<bool> {
        self.inner
            .hasher
            .verify(password, user.password_hash.clone())
            .await
    }

    /// The subject of the per-account password limit: a keyed hash of the sign-in email
    /// (normalised when it is an address), the same for known and unknown accounts, so the
    /// limit's answers say nothing about which accounts exist.
    pub(crate) fn password_subject(&self, email: &str) -> [u8; 32] {
        let normal = EmailAddress::parse(email)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        keyed_hash(
            &self.inner.secrets.hash_key,
            PASSWORD_FAILURES_PURPOSE,
            &[normal.as_bytes()],
        )
    }

    /// Counts a password attempt against its sign-in email before the password is judged, or
    /// refuses it while that email is waiting out wrong passwords or is locked (the throttle
    /// schedule of the second step: free tries, then doubling waits, locked at 100, NIST's cap).
    pub(crate) async fn reserve_password_attempt(&self, subject: &[u8; 32]) -> ServiceResult<()> {
        let policy = &self.inner.policy.throttle;
        let now = self.now();
        let seen = self.store_ref().password_failures(subject).await?;
        let refused = |retry_after: u64| ServiceError::RateLimited {
            retry_after: retry_after.max(1),
            locked: false,
            message: "too many wrong passwords for this account; wait, then try again (a device you told nidan to remember still signs in)",
        };
        match policy.state(seen.failures, seen.last_failure_at, now) {
            nidan_domain::ThrottleState::Open => {}
            nidan_domain::ThrottleState::Wait { retry_after_secs } => {
                return Err(refused(retry_after_secs));
            }
            nidan_domain::ThrottleState::Locked => return Err(refused(policy.max_delay_secs)),
        }
        if self
            .store_ref()
            .reserve_password_attempt(subject, seen, now)
            .await?
        {
            Ok(())
        } else {
            // A parallel attempt on the same account took this turn.
            Err(refused(1))
        }
    }

    /// A remembered device of `user` that `token` names and that is still valid.
    async fn known_device(
        &self,
        user: Option<&UserRecord>,
        token: Option<&str>,
    ) -> ServiceResult<Option<DeviceRecord>> {
        let (Some(user), Some(token)) = (user, token.filter(|t| !t.is_empty())) else {
            return Ok(None);
        };
        let now = self.now();
        Ok(self
            .store_ref()
            .device_by_digest(&token_digest(token))
            .await?
            .filter(|d| d.user_id == user.id && d.expires_at > now))
    }

    /// The password step of sign-in.
    ///
    /// Wrong passwords are limited per sign-in email in the database (so across every client
    /// address and node); a sign-in that presents a valid remembered-device token of the account
    /// is not held back by that limit, so nobody can lock the owner out of a known device.
    pub async fn login(
        &self,
        email: &str,
        password: Zeroizing<String>,
        device_token: Option<&str>,
        client: &ClientInfo,
    ) -> ServiceResult<LoginOutcome> {
        let user = match EmailAddress::parse(email) {
            Ok(email) => self.store_ref().user_by_email(email.as_str()).await?,
            Err(_) => None,
        };
        let known_device = self.known_device(user.as_ref(), device_token).await?;
        let subject = self.password_subject(email);
        if known_device.is_none()
            && let Err(e) = self.reserve_password_attempt(&subject).await
        {
            self.inner.caps.password_refused();
            tracing::warn!(
                client = %nidan_domain::client_key(&client.ip),
                "the per-account password limit refused a sign-in"
            );
            return Err(e);
        }
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let right = self.inner.hasher.verify(password, stored).await?;
        if right && user.is_some() {
            self.store_ref().clear_password_failures(&subject).await?;
        } else if known_device.is_some() {
            // Not held back, but counted all the same.
            let seen = self.store_ref().password_failures(&subject).await?;
            self.store_ref()
                .reserve_password_attempt(&subject, seen, self.now())
                .await?;
        }
        let user = match user {
            Some(user) if right => user,
            Some(user) => {
                self.record(&user.id, "sign_in", None, "wrong_password", client, None)
                    .await;
                return Err(ServiceError::InvalidCredentials);
            }
            None => return Err(ServiceError::InvalidCredentials),
        };
        // Said only after the right password, like everything else about the account.
        if user.disabled_at.is_some() {
            self.record(&user.id, "sign_in", None, "disabled", client, None)
                .await;
            return Err(ServiceError::Forbidden(
                "this account is disabled; contact support",
            ));
        }

        let enrolment = self.enrolment(&user.id).await?;
        let abroad = self.abroad(&client.ip);
        let methods = self.challenge_methods(&user, &enrolment, abroad.is_some());
        if methods.is_empty() {
            let (token, session) = self.new_session(&user.id, client, None);
            self.store_ref().create_session(session).await?;
            self.record(&user.id, "sign_in", None, "success", client, None)
                .await;
            return Ok(LoginOutcome::SignedIn {
                session_token: token,
                user: UserSummary {
                    id: user.id,
                    email: user.email,
                },
            });
        }

        if let Some(device) = known_device {
            let now = self.now();
            let (session_token, session) =
                self.new_session(&user.id, client, Some(SecondStep::Device));
            // The store checks the device again; if it was forgotten meanwhile, fall through
            // to the second step.
            let ip = clip(&client.ip, 64);
            if self
                .store_ref()
                .sign_in_with_device(&device.id, now, &ip, session)
                .await?
            {
                self.record(
                    &user.id,
                    "sign_in",
                    None,
                    "success",
                    client,
                    Some("remembered device".into()),
                )
                .await;
                return Ok(LoginOutcome::SignedIn {
                    session_token,
                    user: UserSummary {
                        id: user.id,
                        email: user.email,
                    },
                });
            }
        }

        let challenge_token = self.new_token(token_prefix::CHALLENGE);
        let now = self.now();
        let ttl = self.inner.policy.challenge_ttl_secs;
        self.store_ref()
            .create_challenge(ChallengeRecord {
                digest: challenge_token.digest(),
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now + ttl,
                attempts: 0,
                consumed_at: None,
                ip: clip(&client.ip, 64),
                user_agent: clip(&client.user_agent, 256),
            })
            .await?;
        self.record(
            &user.id,
            "sign_in",
            None,
            "second_factor_required",
            client,
            None,
        )
        .await;
        let default_method = user
            .default_method
            .filter(|m| methods.contains(m))
            .unwrap_or(methods[0]);

        // Email and SMS codes go out as the challenge is made. A failed delivery does not fail
        // the sign-in: the challenge stays usable (resend, or try another method).
        let (mut code_sent_to, mut send_error) = (None, None);
        let target = self.code_target(&user, &enrolment, default_method, abroad.is_some());
        if let Some((channel, destination, purpose)) = target {
            let binding = CodeBinding::Challenge(challenge_token.digest());
            match self
                .send_code(&user, binding, channel, &destination, purpose, client)
                .await
            {
                Ok(sent) => code_sent_to = Some(sent.sent_to),
                Err(ServiceError::RateLimited { .. }) => send_error = Some("rate_limited"),
                Err(ServiceError::DeliveryFailed) => send_error = Some("delivery_failed"),
                Err(e) => return Err(e),
            }
        }
        // The rule asked for the step only when the account has none of its own.
        let reason = (abroad.is_some() && !two_step_on(&user, &enrolment)).then_some("new_country");
        Ok(LoginOutcome::SecondFactorRequired {
            challenge_token,
            methods,
            default_method,
            expires_in: ttl,
            code_sent_to,
            send_error,
            reason,
        })
    }

    /// The challenge of `digest` while it can be answered (unused, unexpired, attempts left, the
    /// account not disabled: else `ChallengeExpired`), when it offers `method` (else
    /// `InvalidRequest`).
    pub(crate) async fn live_challenge(
        &self,
        digest: &[u8; 32],
        method: Method,
    ) -> ServiceResult<LiveChallenge> {
        let (record, account) = self
            .store_ref()
            .challenge_for_check(digest)
            .await?
            .ok_or(ServiceError::ChallengeExpired)?;
        if record.consumed_at.is_some()
            || record.expires_at <= self.now()
            || record.attempts >= self.inner.policy.challenge_max_attempts
            || account.user.disabled_at.is_some()
        {
            return Err(ServiceError::ChallengeExpired);
        }
        let enrolment = Enrolment::new(
            account.totp,
            account.oob,
            account.recovery_codes_left,
            account.webauthn_keys,
        );
        let abroad = self.abroad(&record.ip).is_some();
        if !self
            .challenge_methods(&account.user, &enrolment, abroad)
            .contains(&method)
        {
            return Err(ServiceError::InvalidRequest(format!(
                "method `{}` is not available for this account",
                method.as_str()
            )));
        }
        Ok(LiveChallenge {
            record,
            user: account.user,
            enrolment,
            abroad,
        })
    }

    /// The second step of sign-in: a code, or a security key's answer, for the challenge.
    pub async fn second_step(
        &self,
        challenge_token: &str,
        method: Method,
        answer: Answer<'_>,
        remember_device: bool,
        client: &ClientInfo,
    ) -> ServiceResult<SecondStepOutcome> {
        let digest = token_digest(challenge_token);
        let now = self.now();
        let max_attempts = self.inner.policy.challenge_max_attempts;
        let LiveChallenge {
            user, enrolment, ..
        } = self.live_challenge(&digest, method).await?;

        // A code asked for only because of where the sign-in comes from (the account has no
        // two-step of its own) is not a second step of the account.
        let proof = two_step_on(&user, &enrolment).then_some(SecondStep::Method(method));
        let (session_token, session) = self.new_session(&user.id, client, proof);
        let remember = remember_device && self.inner.policy.remember_days > 0;
        let device_token = remember.then(|| self.new_token(token_prefix::DEVICE));
        let device = device_token.as_ref().map(|t| NewDevice {
            record: DeviceRecord {
                id: DeviceId::from_random(self.random()),
                user_id: user.id.clone(),
                name: crate::agent::describe(&client.user_agent),
                created_at: now,
                last_used_at: None,
                last_ip: clip(&client.ip, 64),
                expires_at: now + i64::from(self.inner.policy.remember_days) * 86_400,
            },
            digest: t.digest(),
        });
        let grant = SignInGrant { session, device };
        let attempt = ChallengeAttempt {
            digest,
            max_attempts,
            grant,
        };

        let binding = CodeBinding::Challenge(digest);
        let given = match (method, answer) {
            (Method::Webauthn, Answer::Key(credential)) => {
                // Judged here, settled (throttle first) by `check_code` as every code is.
                let (candidate, replayed) = self.key_candidate(&user, &digest, credential).await?;
                Given::Key(candidate, replayed)
            }
            (Method::Webauthn, Answer::Code(_)) => {
                return Err(ServiceError::InvalidRequest(
                    "method `webauthn` takes the security key's `credential`, not a code".into(),
                ));
            }
            (_, Answer::Key(_)) => {
                return Err(ServiceError::InvalidRequest(format!(
                    "method `{}` takes a code, not a credential",
                    method.as_str()
                )));
            }
            (_, Answer::Code(code)) => Given::Code(code),
        };
        let verdict = match self
            .check_code(CodeCheck {
                totp: enrolment.totp.as_ref(),
                oob: Some(&binding),
                challenge: Some(attempt),
                ..CodeCheck::of(user.clone(), Expect::Method(method), given)
            })
            .await
        {
            Err(e @ ServiceError::RateLimited { .. }) => {
                self.record(
                    &user.id,
                    "second_step",
                    Some(method),
                    "throttled",
                    client,
                    None,
                )
                .await;
                return Err(e);
            }
            other => other?,
        };
        let (_, recovery_codes_left) = self
            .decided(&user.id, "second_step", verdict, true, client)
            .await?;
        if device_token.is_some() {
            let device = crate::agent::describe(&client.user_agent);
            self.notify(
                &user.id,
                NoticeKind::DeviceRemembered {
                    device: device.clone(),
                },
                client,
            )
            .await;
            self.record(
                &user.id,
                "device_remembered",
                None,
                "success",
                client,
                Some(device),
            )
            .await;
        }
        Ok(SecondStepOutcome {
            session_token,
            device_token,
            recovery_codes_left,
        })
    }
}
