//! The two-step lifecycle a user drives: enrol an authenticator app (pending until a code
//! confirms it), recovery codes, temporarily off / back on, and removal.
//!
//! Every change that weakens or replaces a factor needs step-up: the password *and* a current
//! code (a recovery code counts). The code goes through the same throttled, one-time check as
//! sign-in. Turning two-step on for the first time hands out the recovery codes once and ends the
//! account's other sessions (someone may have been signed in with the password alone).

use nidan_domain::{
    Method, RECOVERY_CODE_COUNT, RECOVERY_CODE_LEN, RecoveryCode, TOTP_SECRET_BYTES, TotpSecret,
    TwoStepState, otpauth_uri, seed_aad,
};
use zeroize::Zeroizing;

use crate::attempt::{CodeCheck, Expect};
use crate::courier::NoticeKind;
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{CodeBinding, FirstMethod, TotpCredential, UserRecord};
use crate::session::AuthContext;
use crate::{ClientInfo, CredentialId, Service, SessionId, UnixTime};

/// A started authenticator-app setup: shown once, never again.
#[derive(Debug)]
pub struct TotpSetup {
    /// The new secret (for "enter this key" and the QR code).
    pub secret: TotpSecret,
    /// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer`.
    pub otpauth_uri: String,
}

/// The longest a user may turn two-step off for before it turns back on by itself.
pub const MAX_OFF_DAYS: u32 = 90;

/// Step-up proof for a sensitive change.
pub struct StepUp<'a> {
    /// The account password.
    pub password: Zeroizing<String>,
    /// A current code of any enrolled method, or a recovery code.
    pub code: Option<&'a str>,
}

impl Service {
    pub(crate) async fn user_of(&self, auth: &AuthContext) -> ServiceResult<UserRecord> {
        self.store_ref()
            .user_by_id(&auth.user_id)
            .await?
            .ok_or(ServiceError::Unauthenticated)
    }

    /// Checks the password (counted against the account's wrong passwords, as at sign-in) and,
    /// when the account has a method enrolled, a current code: from the app, a recovery code, or
    /// an email/SMS code sent for step-up in this `session`.
    pub(crate) async fn step_up(
        &self,
        user: &UserRecord,
        proof: StepUp<'_>,
        session: Option<&SessionId>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        // Counted like every password: a stolen session cannot guess the password here faster
        // than at the sign-in form.
        let subject = self.password_subject(&user.email);
        self.reserve_password_attempt(&subject).await?;
        if !self.password_matches(user, proof.password).await? {
            self.record(&user.id, "step_up", None, "wrong_password", client, None)
                .await;
            return Err(ServiceError::ReauthRequired("the password is not right"));
        }
        self.store_ref().clear_password_failures(&subject).await?;
        let enrolment = self.enrolment(&user.id).await?;
        if !enrolment.has_method() && enrolment.recovery_codes_left == 0 {
            return Ok(());
        }
        let code =
            proof
                .code
                .filter(|c| !c.trim().is_empty())
                .ok_or(ServiceError::ReauthRequired(
                    "enter a current code from your authenticator app, or a recovery code",
                ))?;
        let binding = session.map(|s| CodeBinding::Session(s.clone()));
        let verdict = self
            .check_code(CodeCheck {
                totp: enrolment.totp.as_ref(),
                oob: binding.as_ref(),
                ..CodeCheck::new(user.clone(), Expect::AnyCurrent, code)
            })
            .await?;
        self.decided(&user.id, "step_up", verdict, false, client)
            .await
            .map(drop)
    }

    /// Starts (or restarts) an authenticator-app setup. Needs the password; when another method
    /// is enrolled already, a current code too (binding a new factor is a sensitive change).
    pub async fn totp_setup(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<TotpSetup> {
        self.check_enabled(Method::Totp)?;
        let user = self.user_of(auth).await?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        let secret = TotpSecret::from_random(self.random::<TOTP_SECRET_BYTES>());
        let credential_id = CredentialId::from_random(self.random());
        let sealed = self.inner.secrets.keyring.seal(
            self.random(),
            &seed_aad(user.id.as_str(), credential_id.as_str()),
            secret.as_bytes(),
        );
        self.store_ref()
            .put_pending_totp(TotpCredential {
                id: credential_id,
                user_id: user.id.clone(),
                sealed_secret: sealed,
                last_used_step: None,
                confirmed_at: None,
                created_at: self.now(),
            })
            .await?;
        let otpauth_uri = otpauth_uri(&self.inner.policy.issuer, &user.email, &secret)
            .map_err(|e| ServiceError::Internal(format!("otpauth uri: {e}")))?;
        Ok(TotpSetup {
            secret,
            otpauth_uri,
        })
    }

    pub(crate) fn new_recovery_codes(
        &self,
        user: &crate::UserId,
    ) -> (Vec<RecoveryCode>, Vec<[u8; 32]>) {
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
            .map(|_| RecoveryCode::from_random(&self.random::<RECOVERY_CODE_LEN>()))
            .collect();
        let digests = codes
            .iter()
            .map(|c| self.recovery_digest(user, c.canonical()))
            .collect();
        (codes, digests)
    }

    /// The recovery codes to hand out, and what the store must write, when a confirmed method is
    /// the account's first (two-step turns on; every other session ends).
    pub(crate) fn first_method(
        &self,
        user: &crate::UserId,
        method: Method,
        first_time: bool,
        session: &SessionId,
    ) -> (Option<Vec<RecoveryCode>>, Option<FirstMethod>) {
        if !first_time {
            return (None, None);
        }
        let (codes, digests) = self.new_recovery_codes(user);
        let first = FirstMethod {
            default_method: method,
            recovery_digests: digests,
            keep_session: Some(session.clone()),
        };
        (Some(codes), Some(first))
    }

    /// History and notices after a method was confirmed (and two-step turned on, the first time).
    pub(crate) async fn method_added(
        &self,
        user: &crate::UserId,
        method: Method,
        hint: Option<String>,
        first_time: bool,
        client: &ClientInfo,
    ) {
        let notice = NoticeKind::MethodAdded {
            method: method.as_str().into(),
            hint: hint.clone(),
        };
        self.method_changed(user, "method_added", method, hint, notice, client)
            .await;
        if first_time {
            self.record(user, "two_step_on", Some(method), "success", client, None)
                .await;
            self.record(
                user,
                "recovery_codes_created",
                None,
                "success",
                client,
                None,
            )
            .await;
            self.notify(user, NoticeKind::TwoStepOn, client).await;
        }
    }

    /// After a method was removed: sessions the gate remembers are read again (two-step may be
    /// off now), the history and a notice.
    pub(crate) async fn method_removed(
        &self,
        user: &crate::UserId,
        method: Method,
        hint: Option<String>,
        client: &ClientInfo,
    ) {
        self.forget_gate_sessions();
        let notice = NoticeKind::MethodRemoved {
            method: method.as_str().into(),
            hint: hint.clone(),
        };
        self.method_changed(user, "method_removed", method, hint, notice, client)
            .await;
    }

    /// A method's change: its line in the history and its notice.
    async fn method_changed(
        &self,
        user: &crate::UserId,
        event: &'static str,
        method: Method,
        hint: Option<String>,
        notice: NoticeKind,
        client: &ClientInfo,
    ) {
        self.record(user, event, Some(method), "success", client, hint)
            .await;
        self.notify(user, notice, client).await;
    }

    /// Confirms the pending setup with a code from the app. Returns the recovery codes when this
    /// turned two-step on for the first time.
    pub async fn totp_confirm(
        &self,
        auth: &AuthContext,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Option<Vec<RecoveryCode>>> {
        let user = self.user_of(auth).await?;
        let pending =
            self.store_ref()
                .pending_totp(&user.id)
                .await?
                .ok_or(ServiceError::Conflict(
                    "there is no authenticator-app setup to confirm; start one first",
                ))?;
        let verdict = self
            .check_code(CodeCheck {
                totp: Some(&pending),
                ..CodeCheck::new(user.clone(), Expect::Method(Method::Totp), code)
            })
            .await?;
        self.decided(&user.id, "totp_confirm", verdict, false, client)
            .await?;
        let enrolment = self.enrolment(&user.id).await?;
        let first_time = !enrolment.has_method();
        let (codes, first) =
            self.first_method(&user.id, Method::Totp, first_time, &auth.session_id);
        if !self
            .store_ref()
            .activate_totp(&user.id, &pending.id, self.now(), first)
            .await?
        {
            return Err(ServiceError::Conflict(
                "this setup was replaced by a newer one; use the newest QR code",
            ));
        }
        self.forget_gate_sessions();
        self.method_added(&user.id, Method::Totp, None, first_time, client)
            .await;
        Ok(codes)
    }

    /// Removes the authenticator app.
    pub async fn totp_remove(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        if self.store_ref().active_totp(&user.id).await?.is_none() {
            return Err(ServiceError::NotFound("no authenticator app is enrolled"));
        }
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        self.store_ref().delete_totp(&user.id).await?;
        self.method_removed(&user.id, Method::Totp, None, client)
            .await;
        Ok(())
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, auth: &AuthContext) -> ServiceResult<u32> {
        Ok(self.store_ref().recovery_codes_left(&auth.user_id).await?)
    }

    /// A new set of recovery codes; every earlier code stops working.
    pub async fn recreate_recovery_codes(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<Vec<RecoveryCode>> {
        let user = self.user_of(auth).await?;
        if !self.enrolment(&user.id).await?.has_method() {
            return Err(ServiceError::Conflict(
                "turn on two-step verification first",
            ));
        }
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        let (codes, digests) = self.new_recovery_codes(&user.id);
        self.store_ref()
            .replace_recovery_codes(&user.id, digests, self.now())
            .await?;
        self.record(
            &user.id,
            "recovery_codes_created",
            None,
            "success",
            client,
            None,
        )
        .await;
        self.notify(&user.id, NoticeKind::RecoveryCodesRecreated, client)
            .await;
        Ok(codes)
    }

    /// Turns two-step temporarily off, or back on; enrolled methods are kept. Off may be for
    /// `off_for_days` (1 to [`MAX_OFF_DAYS`]), after which it turns back on by itself; without
    /// it, off until the user turns it on.
    pub async fn set_two_step(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        on: bool,
        off_for_days: Option<u32>,
        client: &ClientInfo,
    ) -> ServiceResult<(TwoStepState, Option<UnixTime>)> {
        let until = match (on, off_for_days) {
            (true, Some(_)) => {
                return Err(ServiceError::InvalidRequest(
                    "off_for_days goes with state `off`".into(),
                ));
            }
            (false, Some(d)) if !(1..=MAX_OFF_DAYS).contains(&d) => {
                return Err(ServiceError::InvalidRequest(format!(
                    "off_for_days: from 1 to {MAX_OFF_DAYS}"
                )));
            }
            (false, Some(d)) => Some(self.now() + i64::from(d) * 86_400),
            (_, None) => None,
        };
        let user = self.user_of(auth).await?;
        if !self.enrolment(&user.id).await?.has_method() {
            return Err(ServiceError::Conflict(
                "no method is enrolled; set up an authenticator app, email or SMS first",
            ));
        }
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        if user.two_step_enabled != on || until != user.two_step_off_until {
            self.store_ref()
                .set_two_step_enabled(&user.id, on, Some(&auth.session_id), until)
                .await?;
            self.forget_gate_sessions();
        }
        if user.two_step_enabled != on {
            self.record(
                &user.id,
                if on { "two_step_on" } else { "two_step_off" },
                None,
                "success",
                client,
                until.map(|t| format!("until {}", crate::notices::utc_text(t))),
            )
            .await;
            let notice = if on {
                NoticeKind::TwoStepOn
            } else {
                NoticeKind::TwoStepOff { until }
            };
            self.notify(&user.id, notice, client).await;
        }
        Ok(if on {
            (TwoStepState::On, None)
        } else {
            (TwoStepState::Off, until)
        })
    }

    /// Turns two-step back on for the accounts whose "off until" time has come (each once, on
    /// any number of nodes), with a notice; answers how many.
    pub async fn two_step_back_on_when_due(&self) -> usize {
        let now = self.now();
        let due = match self.store_ref().due_two_step_back_on(now, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the accounts due to turn two-step back on");
                return 0;
            }
        };
        let client = ClientInfo {
            ip: "-".into(),
            user_agent: "nidan (scheduled)".into(),
        };
        let mut done = 0;
        for user in due {
            match self.store_ref().two_step_back_on(&user, now).await {
                Ok(true) => {
                    done += 1;
                    self.forget_gate_sessions();
                    self.record(
                        &user,
                        "two_step_on",
                        None,
                        "success",
                        &client,
                        Some("the time it was off for ended".into()),
                    )
                    .await;
                    self.notify(&user, NoticeKind::TwoStepBackOn, &client).await;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, %user, "could not turn two-step back on"),
            }
        }
        done
    }

    /// Removes every method, recovery code and remembered device.
    pub async fn remove_two_step(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        let enrolment = self.enrolment(&user.id).await?;
        if !enrolment.has_method() && enrolment.recovery_codes_left == 0 {
            return Err(ServiceError::Conflict(
                "two-step verification is not set up",
            ));
        }
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        self.store_ref().remove_two_step(&user.id, false).await?;
        self.forget_gate_sessions();
        self.record(&user.id, "two_step_removed", None, "success", client, None)
            .await;
        self.notify(&user.id, NoticeKind::TwoStepRemoved, client)
            .await;
        Ok(())
    }
}
