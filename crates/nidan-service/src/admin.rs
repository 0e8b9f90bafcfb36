//! Support and operator tools behind `nidan admin`: add and inspect accounts, reset a user's
//! two-step verification (with a recorded reason), read a user's activity, import TOTP seeds.
//!
//! These run with the operator's authority (shell access to the server), so they take no
//! password; what they do is recorded in the user's own activity history.

use nidan_domain::{EmailAddress, Method, TotpSecret, TwoStepState, seed_aad};
use zeroize::Zeroizing;

use crate::error::{ServiceError, ServiceResult};
use crate::ports::{ActivityRecord, ImportRow, NewUser, TotpCredential, UserRecord};
use crate::signin::UserSummary;
use crate::{ClientInfo, CredentialId, Service, UserId};

/// What support sees of an account: never a secret.
#[derive(Clone, Debug)]
pub struct AccountOverview {
    /// The account.
    pub user: UserRecord,
    /// `none`, `on` or `off`.
    pub state: TwoStepState,
    /// Enrolled methods, with masked hints for email and SMS (`+81 **-****-5678`).
    pub methods: Vec<(Method, Option<String>)>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// Active sessions.
    pub sessions: usize,
    /// Remembered devices.
    pub devices: usize,
    /// Whether the second factor is locked after too many failures.
    pub locked: bool,
}

/// A row of a seed import that could not be used, with its 1-based line number.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    /// 1-based line in the file.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl Service {
    async fn user_by_email_or_404(&self, email: &str) -> ServiceResult<UserRecord> {
        let email = EmailAddress::parse(email)
            .map_err(|e| ServiceError::InvalidRequest(format!("email: {e}")))?;
        self.store_ref()
            .user_by_email(email.as_str())
            .await?
            .ok_or(ServiceError::NotFound("no account with this email"))
    }

    /// Adds an account; without a password it can only be used by apps through verify.
    pub async fn admin_add_user(
        &self,
        email: &str,
        password: Option<Zeroizing<String>>,
    ) -> ServiceResult<UserSummary> {
        self.create_account(email, password, crate::courier::Locale::default())
            .await
    }

    /// Everything support may see about an account.
    pub async fn admin_show_user(&self, email: &str) -> ServiceResult<AccountOverview> {
        let user = self.user_by_email_or_404(email).await?;
        let enrolment = self.enrolment(&user.id).await?;
        let sessions = self.store_ref().list_sessions(&user.id).await?.len();
        let now = self.now();
        let devices = self
            .store_ref()
            .list_devices(&user.id)
            .await?
            .iter()
            .filter(|d| d.expires_at > now)
            .count();
        let locked = user.failed_attempts >= self.inner.policy.throttle.lock_at;
        Ok(AccountOverview {
            state: Self::two_step_state(user.two_step_enabled, enrolment.has_method()),
            methods: enrolment
                .totp
                .iter()
                .map(|_| (Method::Totp, None))
                .chain(enrolment.oob.iter().map(|m| {
                    (
                        crate::oob::method_of(m.channel),
                        Some(self.mask(m.channel, &m.destination)),
                    )
                }))
                .collect(),
            recovery_codes_left: enrolment.recovery_codes_left,
            sessions,
            devices,
            locked,
            user,
        })
    }

    /// Support reset: removes every factor, recovery code, remembered device and session, clears
    /// the failure count, and records who did it and why in the user's history.
    pub async fn admin_reset_two_step(
        &self,
        email: &str,
        reason: &str,
        operator: &str,
    ) -> ServiceResult<()> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "a reason is required for a support reset".into(),
            ));
        }
        let user = self.user_by_email_or_404(email).await?;
        self.store_ref().remove_two_step(&user.id, true).await?;
        let client = ClientInfo {
            ip: "-".into(),
            user_agent: format!("nidan admin ({operator})"),
        };
        let detail = format!(
            "{} (by {})",
            crate::signin::clip(reason, 500),
            crate::signin::clip(operator, 100)
        );
        self.record(
            &user.id,
            "support_reset",
            None,
            "success",
            &client,
            Some(detail),
        )
        .await;
        let reason = crate::signin::clip(reason, 500);
        self.notify(
            &user.id,
            crate::courier::NoticeKind::SupportReset { reason },
            &client,
        )
        .await;
        Ok(())
    }

    /// A user's history, newest first.
    pub async fn admin_activity(
        &self,
        email: &str,
        limit: u32,
    ) -> ServiceResult<Vec<ActivityRecord>> {
        let user = self.user_by_email_or_404(email).await?;
        Ok(self
            .store_ref()
            .list_activity(&user.id, limit.clamp(1, 10_000), None)
            .await?)
    }

    /// Imports `(line, email, base32 secret)` rows: every row is checked first and a bad one fails
    /// the whole import with its line number; then everything is written in one transaction.
    /// Missing accounts are created without a password (app-only); an imported seed replaces an
    /// account's authenticator app and turns two-step on.
    pub async fn admin_import_totp(
        &self,
        rows: Vec<(usize, String, String)>,
    ) -> Result<usize, ImportFailure> {
        let mut parsed = Vec::with_capacity(rows.len());
        let mut seen = std::collections::HashSet::new();
        for (line, email, secret) in rows {
            let email = EmailAddress::parse(&email).map_err(|e| ImportError {
                line,
                message: format!("email: {e}"),
            })?;
            let secret = TotpSecret::from_base32(&secret).map_err(|e| ImportError {
                line,
                message: format!("secret: {e}"),
            })?;
            if !seen.insert(email.as_str().to_owned()) {
                return Err(ImportError {
                    line,
                    message: format!("{} appears twice", email.as_str()),
                }
                .into());
            }
            parsed.push((email, secret));
        }
        let emails: Vec<String> = parsed.iter().map(|(e, _)| e.as_str().to_owned()).collect();
        let mut existing = std::collections::HashMap::new();
        for chunk in emails.chunks(500) {
            for (email, id) in self
                .store_ref()
                .user_ids_by_email(chunk)
                .await
                .map_err(ServiceError::from)?
            {
                existing.insert(email, id);
            }
        }
        let now = self.now();
        let mut out = Vec::with_capacity(parsed.len());
        for (email, secret) in parsed {
            let (user_id, new_user) = match existing.get(email.as_str()) {
                Some(id) => (id.clone(), None),
                None => {
                    let id = UserId::from_random(self.random());
                    (
                        id.clone(),
                        Some(NewUser {
                            id,
                            email: email.as_str().to_owned(),
                            password_hash: None,
                            locale: Default::default(),
                            created_at: now,
                        }),
                    )
                }
            };
            let credential_id = CredentialId::from_random(self.random());
            let sealed = self.inner.secrets.keyring.seal(
                self.random(),
                &seed_aad(user_id.as_str(), credential_id.as_str()),
                secret.as_bytes(),
            );
            out.push(ImportRow {
                new_user,
                credential: TotpCredential {
                    id: credential_id,
                    user_id,
                    sealed_secret: sealed,
                    last_used_step: None,
                    confirmed_at: Some(now),
                    created_at: now,
                },
            });
        }
        let n = out.len();
        self.store_ref()
            .import_totp(out)
            .await
            .map_err(ServiceError::from)?;
        Ok(n)
    }

    /// Re-seals every TOTP seed under the newest key (after a key was added to the key file).
    pub async fn admin_reseal_all(&self) -> ServiceResult<usize> {
        let all = self.store_ref().all_sealed_secrets().await?;
        let current = self.inner.secrets.keyring.current_version();
        let mut updated = Vec::new();
        for (cred, user, blob) in all {
            if nidan_domain::Keyring::blob_version(&blob).ok() == Some(current) {
                continue;
            }
            let aad = seed_aad(user.as_str(), cred.as_str());
            let seed = self
                .inner
                .secrets
                .keyring
                .open(&blob, &aad)
                .map_err(|e| ServiceError::Internal(format!("open {cred}: {e}")))?;
            updated.push((
                cred,
                self.inner.secrets.keyring.seal(self.random(), &aad, &seed),
            ));
        }
        let n = updated.len();
        self.store_ref().reseal_secrets(updated).await?;
        Ok(n)
    }
}

/// Why an import failed: a bad row, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// A row is unusable; nothing was imported.
    #[error(transparent)]
    Row(#[from] ImportError),
    /// Storage failed; nothing was imported.
    #[error(transparent)]
    Service(#[from] ServiceError),
}
