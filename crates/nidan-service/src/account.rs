//! The account's own life: changing and resetting the password, changing the sign-in email,
//! deleting the account.
//!
//! None of these weakens the second step. Changing the password, the sign-in email or deleting
//! the account needs step-up (the password and, with a method enrolled, a current code). A
//! password reset proves only the email address: it sets a new password and nothing else — it
//! never signs in, never turns two-step off, and ends every session and remembered device, so
//! whoever knew the old password is out and the owner still passes the second step.
//!
//! A reset link's token is 256 random bits, stored as SHA-256, valid 30 minutes, used once (one
//! conditional update decides), and only the newest one of an account works. Asking for one
//! answers the same whether or not the address has an account: the web layer answers before the
//! work is done, and the work itself says nothing back.

use nidan_domain::{EmailAddress, PasswordPolicyError, check_password_policy, token_digest};
use zeroize::Zeroizing;

use crate::attempt::{CodeCheck, Expect};
use crate::courier::{Channel, CodeMessage, CodePurpose, NoticeKind};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{CodeBinding, PasswordReset, UserRecord};
use crate::session::AuthContext;
use crate::two_step::StepUp;
use crate::{ClientInfo, Service, oob::CodeSent};

/// A reset link works this long.
pub const RESET_TTL_SECS: i64 = 30 * 60;

impl Service {
    /// Checks a new password against the policy, with the account's email as its own words.
    pub fn check_new_password(&self, password: &str, email: &str) -> ServiceResult<()> {
        check_password_policy(
            password,
            self.inner.policy.password_min_chars,
            &[email, &self.inner.policy.issuer, "nidan"],
        )
        .map_err(weak)
    }

    /// Changes the password: step-up with the current one (and a code while a method is
    /// enrolled). Every other session ends, every remembered device and reset link is forgotten.
    pub async fn change_password(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        new_password: Zeroizing<String>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        self.check_new_password(&new_password, &user.email)?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        let hash = self.hash_password(new_password).await?;
        self.store_ref()
            .set_password_hash(&user.id, Some(hash), Some(&auth.session_id))
            .await?;
        self.forget_gate_sessions();
        self.record(&user.id, "password_changed", None, "success", client, None)
            .await;
        self.notify(&user.id, NoticeKind::PasswordChanged, client)
            .await;
        Ok(())
    }

    /// Emails a reset link when `email` has an account, at most `password_resets_per_hour` an
    /// hour. Answers `Ok` whether or not it has one (and whether or not a link went out); only a
    /// malformed address or a storage failure is an error.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let email = EmailAddress::parse(email)
            .map_err(|e| ServiceError::InvalidRequest(format!("email: {e}")))?;
        let Some(user) = self
            .store_ref()
            .user_by_email(email.as_str())
            .await?
            .filter(|u| u.disabled_at.is_none())
        else {
            return Ok(());
        };
        let token = self.new_token(crate::token_prefix::RESET);
        let now = self.now();
        let reset = PasswordReset {
            digest: token.digest(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + RESET_TTL_SECS,
            used_at: None,
            ip: crate::signin::clip(&client.ip, 64),
        };
        let digest = reset.digest;
        let per_hour = self.inner.policy.password_resets_per_hour;
        if !self
            .store_ref()
            .create_password_reset(reset, per_hour)
            .await?
        {
            tracing::warn!(user = %user.id, "password reset links asked for too often; none sent");
            return Ok(());
        }
        let link = Zeroizing::new(format!(
            "{}/reset?token={}",
            self.inner.policy.public_url.trim_end_matches('/'),
            token.expose()
        ));
        let message = CodeMessage {
            channel: Channel::Email,
            to: user.email.clone(),
            code: link,
            purpose: CodePurpose::PasswordReset,
            locale: user.locale,
            issuer: self.inner.policy.issuer.clone(),
            valid_minutes: (RESET_TTL_SECS / 60) as u32,
        };
        if let Err(e) = self.inner.courier.send_code(&message).await {
            tracing::error!(error = %e, "a password reset link could not be delivered");
            self.store_ref().discard_password_reset(&digest).await?;
            return Err(ServiceError::DeliveryFailed);
        }
        self.record(
            &user.id,
            "password_reset_requested",
            None,
            "success",
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// Whether a reset link still works (the page asks before showing the form).
    pub async fn password_reset_usable(&self, token: &str) -> ServiceResult<()> {
        self.usable_reset(token).await.map(drop)
    }

    async fn usable_reset(&self, token: &str) -> ServiceResult<(PasswordReset, UserRecord)> {
        let reset = self
            .store_ref()
            .password_reset(&token_digest(token))
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > self.now())
            .ok_or(ServiceError::LinkExpired)?;
        let user = self
            .store_ref()
            .user_by_id(&reset.user_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or(ServiceError::LinkExpired)?;
        Ok((reset, user))
    }

    /// Sets a new password with a reset link. Does not sign in and leaves two-step exactly as it
    /// was; every session ends, every remembered device is forgotten, a notice goes out, and the
    /// wrong passwords counted for the address are forgotten (the owner proved the address).
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: Zeroizing<String>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let (reset, user) = self.usable_reset(token).await?;
        self.check_new_password(&new_password, &user.email)?;
        let hash = self.hash_password(new_password).await?;
        let Some(user_id) = self
            .store_ref()
            .reset_password(&reset.digest, self.now(), hash)
            .await?
        else {
            return Err(ServiceError::LinkExpired);
        };
        self.forget_gate_sessions();
        self.store_ref()
            .clear_password_failures(&self.password_subject(&user.email))
            .await?;
        self.record(&user_id, "password_reset", None, "success", client, None)
            .await;
        self.notify(&user_id, NoticeKind::PasswordReset, client)
            .await;
        Ok(())
    }

    /// Starts changing the sign-in email: step-up, then a code to the new address (nothing
    /// changes until it is confirmed). With `[email] separate_address`, the new sign-in address
    /// may not be the address that receives codes.
    pub async fn start_email_change(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        new_email: &str,
        client: &ClientInfo,
    ) -> ServiceResult<CodeSent> {
        let user = self.user_of(auth).await?;
        let email = EmailAddress::parse(new_email)
            .map_err(|e| ServiceError::InvalidRequest(format!("email: {e}")))?;
        if email.as_str() == user.email {
            return Err(ServiceError::InvalidRequest(
                "email: this is already your sign-in email".into(),
            ));
        }
        if self.inner.policy.codes.email_separate_address
            && self
                .store_ref()
                .oob_methods(&user.id)
                .await?
                .iter()
                .any(|m| m.channel == Channel::Email && m.destination == email.as_str())
        {
            return Err(ServiceError::SeparateAddress);
        }
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        if self
            .store_ref()
            .user_by_email(email.as_str())
            .await?
            .is_some()
        {
            return Err(ServiceError::Conflict(
                "another account signs in with this email address",
            ));
        }
        self.send_code(
            &user,
            CodeBinding::NewEmail(auth.session_id.clone()),
            Channel::Email,
            email.as_str(),
            CodePurpose::NewSignInEmail,
            client,
        )
        .await
    }

    /// The new sign-in email this session asked to change to, while its code still works.
    pub async fn pending_sign_in_email(&self, auth: &AuthContext) -> ServiceResult<Option<String>> {
        let binding = CodeBinding::NewEmail(auth.session_id.clone());
        Ok(self
            .store_ref()
            .live_code(&auth.user_id, &binding)
            .await?
            .filter(|c| c.expires_at > self.now() && c.used_at.is_none())
            .map(|c| c.destination))
    }

    /// Confirms the new sign-in email with the code sent to it; a notice goes to the old one.
    pub async fn confirm_email_change(
        &self,
        auth: &AuthContext,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<String> {
        let user = self.user_of(auth).await?;
        let binding = CodeBinding::NewEmail(auth.session_id.clone());
        let pending = self
            .store_ref()
            .live_code(&user.id, &binding)
            .await?
            .ok_or(ServiceError::Conflict(
                "there is no new address to confirm; start again",
            ))?;
        let verdict = self
            .check_code(CodeCheck {
                oob: Some(&binding),
                ..CodeCheck::new(
                    user.clone(),
                    Expect::Method(nidan_domain::Method::Email),
                    code,
                )
            })
            .await?;
        self.decided(&user.id, "sign_in_email_confirm", verdict, false, client)
            .await?;
        self.store_ref()
            .set_email(&user.id, &pending.destination)
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    ServiceError::Conflict("another account signs in with this email address")
                }
                e => e.into(),
            })?;
        let hint = self.mask(Channel::Email, &pending.destination);
        self.record(
            &user.id,
            "sign_in_email_changed",
            None,
            "success",
            client,
            Some(hint.clone()),
        )
        .await;
        if let Some(mut notice) =
            self.new_notice(&user.id, NoticeKind::SignInEmailChanged { hint }, client)
        {
            notice.to = Some((user.email.clone(), user.locale));
            if let Err(e) = self.store_ref().enqueue_notice(notice).await {
                tracing::error!(error = %e, user = %user.id, "could not queue a security notice");
            }
        }
        Ok(pending.destination)
    }

    /// Deletes the account and everything of it, after step-up; a last notice goes to its
    /// address.
    pub async fn delete_account(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        self.delete_user(&user, NoticeKind::AccountDeleted { reason: None }, client)
            .await?;
        tracing::info!(user = %user.id, "account deleted by its owner");
        Ok(())
    }

    /// Deletes an account with its last notice (the owner's or support's deletion).
    pub(crate) async fn delete_user(
        &self,
        user: &UserRecord,
        kind: NoticeKind,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let Some(mut notice) = self.new_notice(&user.id, kind, client) else {
            return Err(ServiceError::Internal("could not encode a notice".into()));
        };
        notice.to = Some((user.email.clone(), user.locale));
        if !self.store_ref().delete_user(&user.id, notice).await? {
            return Err(ServiceError::NotFound("no such account"));
        }
        self.forget_gate_sessions();
        self.store_ref()
            .clear_password_failures(&self.password_subject(&user.email))
            .await?;
        Ok(())
    }
}

/// A refused password as the API reports it.
fn weak(e: PasswordPolicyError) -> ServiceError {
    let reason = match &e {
        PasswordPolicyError::TooShort { .. } => "too_short",
        PasswordPolicyError::TooLong { .. } => "too_long",
        PasswordPolicyError::ControlCharacter => "control_character",
        PasswordPolicyError::Weak(w) => w.as_str(),
    };
    ServiceError::WeakPassword {
        reason,
        message: format!("new password: {e}"),
    }
}
