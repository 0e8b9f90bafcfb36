//! Codes by email and by SMS: adding an address or a number (confirmed by a code sent to it),
//! sending sign-in codes ("try another method"), step-up codes, and removing them.
//!
//! A code is 6 digits from the CSPRNG, lives `codes.ttl_secs` (5 minutes by default, never over
//! 10), is bound to exactly one challenge, enrolment or session, allows 5 wrong tries, and is
//! stored only as a keyed hash. Sending is limited in the same transaction that stores the code:
//! 60 s apart, a few per account per 15 minutes, a daily cap per account and destination, and
//! for destinations not yet confirmed also per account, per client address and over all
//! accounts. Every budget is the sending account's or the asking client's own, so nobody can use
//! up what another account may send to its confirmed address or number.

use nidan_domain::{EmailAddress, Method, PhoneNumber, RecoveryCode, keyed_hash, token_digest};
use zeroize::Zeroizing;

use crate::attempt::{CodeCheck, Expect};
use crate::courier::{Channel, CodeMessage, CodePurpose};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{CodeBinding, Issued, OobCode, OobMethod, SendCap, UserRecord};
use crate::session::AuthContext;
use crate::two_step::StepUp;
use crate::{ClientInfo, CredentialId, Service};

/// Where a code went, and when the next may be asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSent {
    /// The destination, masked (`t***@example.com`, `+81 **-****-5678`).
    pub sent_to: String,
    /// Seconds the code works.
    pub expires_in: i64,
    /// Seconds before another code may be sent.
    pub resend_after: i64,
}

pub(crate) const OOB_PURPOSE: &str = "oob-code";

/// The method of a channel.
pub(crate) fn method_of(channel: Channel) -> Method {
    match channel {
        Channel::Email => Method::Email,
        Channel::Sms => Method::Sms,
    }
}

impl Service {
    /// The destination as people may see it.
    pub(crate) fn mask(&self, channel: Channel, destination: &str) -> String {
        match channel {
            Channel::Email => EmailAddress::parse(destination)
                .map(|e| e.masked())
                .unwrap_or_else(|_| "***".into()),
            Channel::Sms => {
                PhoneNumber::parse(destination, &self.inner.policy.codes.default_region)
                    .map(|p| p.masked())
                    .unwrap_or_else(|_| nidan_domain::mask_international(destination))
            }
        }
    }

    pub(crate) fn oob_digest(&self, code_id: &str, code: &str) -> [u8; 32] {
        keyed_hash(
            &self.inner.secrets.hash_key,
            OOB_PURPOSE,
            &[code_id.as_bytes(), code.as_bytes()],
        )
    }

    /// Six uniformly random digits (rejection sampling: no modulo bias).
    fn six_digits(&self) -> Zeroizing<String> {
        loop {
            let n = u32::from_le_bytes(self.random());
            // 4_294_000_000 is the largest multiple of 10^6 below 2^32.
            if n < 4_294_000_000 {
                return Zeroizing::new(format!("{:06}", n % 1_000_000));
            }
        }
    }

    /// Stores a new code for `binding` (if the limits allow) and delivers it now. `client` is
    /// who asked: sends to destinations not yet confirmed are capped per client address too.
    pub(crate) async fn send_code(
        &self,
        user: &UserRecord,
        binding: CodeBinding,
        channel: Channel,
        destination: &str,
        purpose: CodePurpose,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        let policy = &self.inner.policy.codes;
        let code = self.six_digits();
        let id = crate::ids::hex(&self.random::<16>());
        let now = self.now();
        let record = OobCode {
            digest: self.oob_digest(&id, &code),
            id: id.clone(),
            user_id: user.id.clone(),
            binding,
            channel,
            destination: destination.to_owned(),
            created_at: now,
            expires_at: now + policy.ttl_secs,
            attempts: 0,
            used_at: None,
            client: Some(nidan_domain::client_key(&client.ip)).filter(|k| !k.is_empty()),
        };
        if let Issued::TooSoon { retry_after, cap } =
            self.store_ref().issue_code(record, policy.limits).await?
        {
            self.inner.caps.hit(cap);
            if cap != SendCap::Interval {
                tracing::warn!(
                    cap = cap.as_str(),
                    channel = channel.as_str(),
                    user = %user.id,
                    client = %nidan_domain::client_key(&client.ip),
                    retry_after,
                    "a sending cap refused a code"
                );
            }
            return Err(ServiceError::RateLimited {
                retry_after,
                locked: false,
                message: "a code was sent a moment ago (or too many today); wait before asking for another",
            });
        }
        let message = CodeMessage {
            channel,
            to: destination.to_owned(),
            code,
            purpose,
            locale: user.locale,
            issuer: self.inner.policy.issuer.clone(),
            valid_minutes: (policy.ttl_secs / 60).max(1) as u32,
        };
        if let Err(e) = self.inner.courier.send_code(&message).await {
            tracing::error!(error = %e, channel = ?channel, "a code could not be delivered");
            if let Err(e) = self.store_ref().discard_code(&id).await {
                tracing::warn!(error = %e, "could not discard an undelivered code");
            }
            return Err(ServiceError::DeliveryFailed);
        }
        Ok(CodeSent {
            sent_to: self.mask(channel, destination),
            expires_in: policy.ttl_secs,
            resend_after: policy.limits.min_interval_secs,
        })
    }

    fn parse_destination(
        &self,
        channel: Channel,
        input: &str,
        user: &UserRecord,
    ) -> ServiceResult<String> {
        match channel {
            Channel::Sms => {
                let phone = PhoneNumber::parse(input, &self.inner.policy.codes.default_region)
                    .map_err(|e| ServiceError::InvalidRequest(format!("phone: {e}")))?;
                let allowed = &self.inner.policy.codes.sms_allowed_countries;
                if !allowed.is_empty() && !allowed.contains(&phone.calling_code()) {
                    return Err(ServiceError::InvalidRequest(format!(
                        "phone: numbers with the country code +{} cannot receive codes from this server",
                        phone.calling_code()
                    )));
                }
                Ok(phone.e164().to_owned())
            }
            Channel::Email => {
                let email = EmailAddress::parse(input)
                    .map_err(|e| ServiceError::InvalidRequest(format!("email: {e}")))?;
                if self.inner.policy.codes.email_separate_address && email.as_str() == user.email {
                    return Err(ServiceError::SeparateAddress);
                }
                Ok(email.as_str().to_owned())
            }
        }
    }

    /// Adds (or changes) an email address or phone number for codes: needs the password (and a
    /// current code when a method is enrolled), then sends a code to it. Calling it again with
    /// the same destination resends (throttled); with another one, the earlier code dies.
    pub async fn oob_setup(
        &self,
        auth: &AuthContext,
        channel: Channel,
        proof: StepUp<'_>,
        destination: &str,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        self.check_enabled(method_of(channel))?;
        let user = self.user_of(auth).await?;
        let destination = self.parse_destination(channel, destination, &user)?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        let methods = self.store_ref().oob_methods(&user.id).await?;
        let pending = methods.into_iter().find(|m| {
            m.channel == channel && m.confirmed_at.is_none() && m.destination == destination
        });
        let pending = match pending {
            Some(p) => p,
            None => {
                let m = OobMethod {
                    id: CredentialId::from_random(self.random()),
                    user_id: user.id.clone(),
                    channel,
                    destination: destination.clone(),
                    confirmed_at: None,
                    created_at: self.now(),
                };
                self.store_ref().put_pending_oob(m.clone()).await?;
                m
            }
        };
        self.send_code(
            &user,
            CodeBinding::Enrolment(pending.id.clone()),
            channel,
            &destination,
            CodePurpose::Enrolment,
            client,
        )
        .await
    }

    /// Sends a new code to the pending address or number of a channel ("Resend" while adding
    /// one). The destination was approved with step-up when the setup started, so no password is
    /// asked again; the sending limits apply and the earlier code dies.
    pub async fn oob_resend(
        &self,
        auth: &AuthContext,
        channel: Channel,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        let user = self.user_of(auth).await?;
        let pending = self
            .store_ref()
            .oob_methods(&user.id)
            .await?
            .into_iter()
            .find(|m| m.channel == channel && m.confirmed_at.is_none())
            .ok_or(ServiceError::Conflict(
                "there is nothing to resend; start the setup first",
            ))?;
        let binding = CodeBinding::Enrolment(pending.id.clone());
        self.send_code(
            &user,
            binding,
            channel,
            &pending.destination,
            CodePurpose::Enrolment,
            client,
        )
        .await
    }

    /// Confirms a pending address or number with the code sent to it. Returns the recovery codes
    /// when this turned two-step on for the first time.
    pub async fn oob_confirm(
        &self,
        auth: &AuthContext,
        channel: Channel,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Option<Vec<RecoveryCode>>> {
        let user = self.user_of(auth).await?;
        let method = method_of(channel);
        let pending = self
            .store_ref()
            .oob_methods(&user.id)
            .await?
            .into_iter()
            .find(|m| m.channel == channel && m.confirmed_at.is_none())
            .ok_or(ServiceError::Conflict(
                "there is nothing to confirm; start the setup first",
            ))?;
        let binding = CodeBinding::Enrolment(pending.id.clone());
        let verdict = self
            .check_code(CodeCheck {
                oob: Some(&binding),
                ..CodeCheck::new(user.clone(), Expect::Method(method), code)
            })
            .await?;
        self.decided(&user.id, "method_confirm", verdict, false, client)
            .await?;
        let first_time = !self.enrolment(&user.id).await?.has_method();
        let (codes, first) = self.first_method(&user.id, method, first_time, &auth.session_id);
        if !self
            .store_ref()
            .activate_oob(&user.id, &pending.id, self.now(), first)
            .await?
        {
            return Err(ServiceError::Conflict(
                "this setup was replaced by a newer one",
            ));
        }
        self.forget_gate_sessions();
        let hint = Some(self.mask(channel, &pending.destination));
        self.method_added(&user.id, method, hint, first_time, client)
            .await;
        Ok(codes)
    }

    /// Removes the address or number of a channel.
    pub async fn oob_remove(
        &self,
        auth: &AuthContext,
        channel: Channel,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        let method = method_of(channel);
        let existing = self
            .store_ref()
            .oob_methods(&user.id)
            .await?
            .into_iter()
            .find(|m| m.channel == channel && m.confirmed_at.is_some());
        let Some(existing) = existing else {
            return Err(ServiceError::NotFound("no such method is enrolled"));
        };
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        self.store_ref().delete_oob(&user.id, channel).await?;
        let hint = Some(self.mask(channel, &existing.destination));
        self.method_removed(&user.id, method, hint, client).await;
        Ok(())
    }

    /// Sends (or resends) a sign-in code by email or SMS for a challenge: "try another method".
    pub async fn send_sign_in_code(
        &self,
        challenge_token: &str,
        method: Method,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        let digest = token_digest(challenge_token);
        if crate::courier::channel_of(method).is_none() {
            return Err(ServiceError::InvalidRequest(
                "`method` must be `email` or `sms`".into(),
            ));
        }
        let crate::signin::LiveChallenge {
            user,
            enrolment,
            abroad,
            ..
        } = self.live_challenge(&digest, method).await?;
        let target = self.code_target(&user, &enrolment, method, abroad);
        let Some((channel, destination, purpose)) = target else {
            return Err(ServiceError::InvalidRequest(format!(
                "method `{}` is not available for this account",
                method.as_str()
            )));
        };
        let sent = self
            .send_code(
                &user,
                CodeBinding::Challenge(digest),
                channel,
                &destination,
                purpose,
                client,
            )
            .await;
        let result = match &sent {
            Ok(_) => "sent",
            Err(ServiceError::RateLimited { .. }) => "throttled",
            Err(_) => "delivery_failed",
        };
        self.record(&user.id, "code_sent", Some(method), result, client, None)
            .await;
        sent
    }

    /// Sends a code for step-up within a session (to confirm a sensitive change when no
    /// authenticator app is at hand).
    pub async fn send_step_up_code(
        &self,
        auth: &AuthContext,
        method: Method,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        let user = self.user_of(auth).await?;
        let channel = crate::courier::channel_of(method).ok_or_else(|| {
            ServiceError::InvalidRequest("`method` must be `email` or `sms`".into())
        })?;
        let enrolment = self.enrolment(&user.id).await?;
        let target = enrolment
            .oob
            .iter()
            .find(|m| m.channel == channel)
            .ok_or(ServiceError::NotFound("no such method is enrolled"))?;
        let sent = self
            .send_code(
                &user,
                CodeBinding::Session(auth.session_id.clone()),
                channel,
                &target.destination,
                CodePurpose::SignIn,
                client,
            )
            .await;
        self.record(
            &user.id,
            "code_sent",
            Some(method),
            if sent.is_ok() { "sent" } else { "failure" },
            client,
            None,
        )
        .await;
        sent
    }

    /// Chooses the method offered first at sign-in.
    pub async fn set_default_method(
        &self,
        auth: &AuthContext,
        method: Method,
    ) -> ServiceResult<()> {
        let enrolment = self.enrolment(&auth.user_id).await?;
        if method == Method::Recovery || !enrolment.methods().contains(&method) {
            return Err(ServiceError::InvalidRequest(format!(
                "method `{}` is not enrolled",
                method.as_str()
            )));
        }
        Ok(self
            .store_ref()
            .set_default_method(&auth.user_id, method)
            .await?)
    }

    /// Sets the language of the account's emails.
    pub async fn set_locale(
        &self,
        auth: &AuthContext,
        locale: crate::courier::Locale,
    ) -> ServiceResult<()> {
        Ok(self.store_ref().set_locale(&auth.user_id, locale).await?)
    }
}
