//! Support and operator tools behind `nidan admin`: add and inspect accounts, reset a user's
//! two-step verification (with a recorded reason), read a user's activity, import TOTP seeds.
//!
//! These run with the operator's authority (shell access to the server), so they take no
//! password; what they do is recorded in the user's own activity history.

use std::collections::{HashMap, HashSet};

use nidan_domain::{EmailAddress, Method, TotpSecret, TwoStepState, seed_aad};
use zeroize::Zeroizing;

use crate::courier::NoticeKind;
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{ActivityRecord, ImportRow, NewUser, TotpCredential, UserRecord};
use crate::signin::UserSummary;
use crate::{ClientInfo, CredentialId, Service, UnixTime, UserId};

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
    /// The groups it belongs to.
    pub groups: Vec<String>,
}

/// One account as `nidan admin user list` shows it.
#[derive(Clone, Debug)]
pub struct AccountRow {
    /// The account.
    pub user: UserRecord,
    /// `none`, `on` or `off`.
    pub state: TwoStepState,
}

/// How long support turns two-step off for when no end is given.
pub const SUPPORT_OFF_DEFAULT_SECS: i64 = 7 * 86_400;
/// The longest support may turn two-step off for.
pub const SUPPORT_OFF_MAX_SECS: i64 = 90 * 86_400;

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
            groups: self.store_ref().groups(&user.id).await?,
            user,
        })
    }

    /// Accounts whose email contains `query` (any case), in email order, at most `limit`.
    pub async fn admin_list_users(
        &self,
        query: &str,
        limit: u32,
    ) -> ServiceResult<Vec<AccountRow>> {
        Ok(self
            .store_ref()
            .list_users(query.trim(), "", limit.clamp(1, 100_000))
            .await?
            .into_iter()
            .map(|(user, has_method)| AccountRow {
                state: Self::two_step_state(user.two_step_enabled, has_method),
                user,
            })
            .collect())
    }

    /// Records what support did in the account's history, and in the server log as an audit
    /// event (target `nidan::audit`).
    async fn audit(&self, user: &UserRecord, action: &'static str, operator: &str, reason: &str) {
        let operator = crate::signin::clip(operator, 100);
        let reason = crate::signin::clip(reason, 500);
        tracing::info!(
            target: "nidan::audit",
            action,
            user = %user.id,
            email = %user.email,
            %operator,
            %reason,
            "support action"
        );
        let client = operator_client(&operator);
        let detail = if reason.is_empty() {
            format!("by {operator}")
        } else {
            format!("{reason} (by {operator})")
        };
        self.record(&user.id, action, None, "success", &client, Some(detail))
            .await;
    }

    /// Disables an account (it cannot sign in or be verified; every session, open sign-in and
    /// remembered device ends at once), or enables it again. A reason is required to disable.
    pub async fn admin_set_disabled(
        &self,
        email: &str,
        disabled: bool,
        reason: &str,
        operator: &str,
    ) -> ServiceResult<()> {
        let reason = reason.trim();
        if disabled && reason.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "a reason is required to disable an account".into(),
            ));
        }
        let user = self.user_by_email_or_404(email).await?;
        if user.disabled_at.is_some() == disabled {
            return Err(ServiceError::Conflict(if disabled {
                "the account is disabled already"
            } else {
                "the account is not disabled"
            }));
        }
        let at = disabled.then(|| self.now());
        self.store_ref().set_disabled(&user.id, at).await?;
        self.forget_gate_sessions();
        let action = if disabled {
            "account_disabled"
        } else {
            "account_enabled"
        };
        self.audit(&user, action, operator, reason).await;
        let kind = if disabled {
            NoticeKind::AccountDisabled {
                reason: crate::signin::clip(reason, 500),
            }
        } else {
            NoticeKind::AccountEnabled
        };
        self.notify(&user.id, kind, &operator_client(operator))
            .await;
        Ok(())
    }

    /// Deletes an account and everything of it; a last notice goes to its address with the
    /// reason. The deletion is in the server log (the account's history goes with it).
    pub async fn admin_delete_user(
        &self,
        email: &str,
        reason: &str,
        operator: &str,
    ) -> ServiceResult<()> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "a reason is required to delete an account".into(),
            ));
        }
        let user = self.user_by_email_or_404(email).await?;
        let kind = NoticeKind::AccountDeleted {
            reason: Some(crate::signin::clip(reason, 500)),
        };
        self.delete_user(&user, kind, &operator_client(operator))
            .await?;
        tracing::info!(
            target: "nidan::audit",
            action = "account_deleted",
            user = %user.id,
            email = %user.email,
            operator = %crate::signin::clip(operator, 100),
            reason = %crate::signin::clip(reason, 500),
            "support action"
        );
        Ok(())
    }

    /// Support turns two-step off for a while (after checking the owner's identity), methods
    /// kept: back on by itself at `until` (default in 7 days, at most 90). Every remembered
    /// device is forgotten; the owner gets a notice.
    pub async fn admin_two_step_off(
        &self,
        email: &str,
        reason: &str,
        operator: &str,
        until: Option<UnixTime>,
    ) -> ServiceResult<UnixTime> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "a reason is required to turn two-step off".into(),
            ));
        }
        let now = self.now();
        let until = until.unwrap_or(now + SUPPORT_OFF_DEFAULT_SECS);
        if until <= now || until > now + SUPPORT_OFF_MAX_SECS {
            return Err(ServiceError::InvalidRequest(
                "--until must be in the future and at most 90 days away".into(),
            ));
        }
        let user = self.user_by_email_or_404(email).await?;
        if !self.enrolment(&user.id).await?.has_method() {
            return Err(ServiceError::Conflict(
                "the account has no two-step method; there is nothing to turn off",
            ));
        }
        self.store_ref()
            .set_two_step_enabled(&user.id, false, None, Some(until))
            .await?;
        self.forget_gate_sessions();
        self.audit(&user, "support_two_step_off", operator, reason)
            .await;
        let kind = NoticeKind::SupportTwoStepOff {
            reason: crate::signin::clip(reason, 500),
            until,
        };
        self.notify(&user.id, kind, &operator_client(operator))
            .await;
        Ok(until)
    }

    /// Adds the account to a group, or takes it out (group names: 1 to 64 letters, digits,
    /// `.`, `_` or `-`).
    pub async fn admin_group(
        &self,
        email: &str,
        group: &str,
        add: bool,
        operator: &str,
    ) -> ServiceResult<()> {
        let valid = (1..=64).contains(&group.len())
            && group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(ServiceError::InvalidRequest(
                "a group name is 1 to 64 letters, digits, '.', '_' or '-'".into(),
            ));
        }
        let user = self.user_by_email_or_404(email).await?;
        let changed = if add {
            self.store_ref().add_group(&user.id, group).await?
        } else {
            self.store_ref().remove_group(&user.id, group).await?
        };
        if !changed {
            return Err(ServiceError::Conflict(if add {
                "the account is in this group already"
            } else {
                "the account is not in this group"
            }));
        }
        let action = if add { "group_added" } else { "group_removed" };
        self.audit(&user, action, operator, group).await;
        Ok(())
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
        self.forget_gate_sessions();
        self.audit(&user, "support_reset", operator, reason).await;
        let reason = crate::signin::clip(reason, 500);
        self.notify(
            &user.id,
            NoticeKind::SupportReset { reason },
            &operator_client(operator),
        )
        .await;
        Ok(())
    }

    /// Support unlock: forgets the account's counted wrong passwords and wrong codes, so its
    /// owner can sign in again at once (after the identity check support does), and records who
    /// did it in the user's history. Nothing else changes: the methods, sessions and devices stay.
    pub async fn admin_unlock(&self, email: &str, operator: &str) -> ServiceResult<()> {
        let user = self.user_by_email_or_404(email).await?;
        self.store_ref()
            .clear_password_failures(&self.password_subject(&user.email))
            .await?;
        self.store_ref().clear_code_failures(&user.id).await?;
        self.audit(&user, "support_unlock", operator, "").await;
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
    ///
    /// A file can hold a million rows, so the CPU work (normalising emails, decoding base32,
    /// sealing each seed) runs off the async threads and on every core, and existing accounts
    /// are looked up [`LOOKUP_CHUNK`] emails at a time. The result is the same as checking and
    /// sealing row by row: the error reported is the one of the first bad line.
    pub async fn admin_import_totp(
        &self,
        rows: Vec<(usize, String, String)>,
    ) -> Result<usize, ImportFailure> {
        let started = std::time::Instant::now();
        let parsed = off_the_async_threads(move || check_rows(&rows)).await??;
        tracing::debug!(
            rows = parsed.len(),
            elapsed_ms = ms(started),
            "import: rows checked"
        );
        let mut existing = HashMap::new();
        let emails: Vec<String> = parsed.iter().map(|p| p.email.as_str().to_owned()).collect();
        for chunk in emails.chunks(LOOKUP_CHUNK) {
            existing.extend(
                self.store_ref()
                    .user_ids_by_email(chunk)
                    .await
                    .map_err(ServiceError::from)?,
            );
        }
        drop(emails);
        tracing::debug!(
            existing = existing.len(),
            elapsed_ms = ms(started),
            "import: existing accounts looked up"
        );
        let now = self.now();
        let this = self.clone();
        let out = off_the_async_threads(move || {
            in_parallel(&parsed, |chunk| this.seal_rows(chunk, &existing, now))
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .await?;
        tracing::debug!(elapsed_ms = ms(started), "import: seeds sealed");
        let n = out.len();
        self.store_ref()
            .import_totp(out)
            .await
            .map_err(ServiceError::from)?;
        tracing::debug!(elapsed_ms = ms(started), "import: written");
        Ok(n)
    }

    /// Gives each checked row its ids (a new account's id unless the email has one) and seals
    /// its seed under the current key, bound to the account and the credential (the AAD), as
    /// every enrolment does. The random bytes of a chunk come from one call to the RNG.
    fn seal_rows(
        &self,
        rows: &[CheckedRow],
        existing: &HashMap<String, UserId>,
        now: i64,
    ) -> Vec<ImportRow> {
        const PER_ROW: usize = 16 + 16 + 24;
        let mut random = vec![0u8; rows.len() * PER_ROW];
        self.inner.rng.fill(&mut random);
        rows.iter()
            .zip(random.chunks_exact(PER_ROW))
            .map(|(row, r)| {
                let (user_bytes, rest) = r.split_at(16);
                let (cred_bytes, nonce) = rest.split_at(16);
                let (user_id, new_user) = match existing.get(row.email.as_str()) {
                    Some(id) => (id.clone(), None),
                    None => {
                        let id = UserId::from_random(array(user_bytes));
                        (
                            id.clone(),
                            Some(NewUser {
                                id,
                                email: row.email.as_str().to_owned(),
                                password_hash: None,
                                locale: Default::default(),
                                created_at: now,
                            }),
                        )
                    }
                };
                let credential_id = CredentialId::from_random(array(cred_bytes));
                let sealed = self.inner.secrets.keyring.seal(
                    array(nonce),
                    &seed_aad(user_id.as_str(), credential_id.as_str()),
                    row.secret.as_bytes(),
                );
                ImportRow {
                    new_user,
                    credential: TotpCredential {
                        id: credential_id,
                        user_id,
                        sealed_secret: sealed,
                        last_used_step: None,
                        confirmed_at: Some(now),
                        created_at: now,
                    },
                }
            })
            .collect()
    }

    /// A page of every account's security events from `since` to before `until`, oldest first,
    /// after the cursor `after` (an event id), with each account's email: the audit export.
    pub async fn audit_page(
        &self,
        since: crate::UnixTime,
        until: crate::UnixTime,
        after: i64,
        limit: u32,
    ) -> ServiceResult<Vec<(crate::ports::ActivityRecord, String)>> {
        Ok(self
            .store_ref()
            .activity_between(since, until, after, limit)
            .await?)
    }

    /// Re-seals every TOTP seed and OpenID Connect signing key under the newest key (after a key
    /// was added to the key file); answers how many.
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
        Ok(n + self.reseal_signing_keys().await?)
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

/// Emails per existing-account lookup (the store splits further if its backend needs to).
const LOOKUP_CHUNK: usize = 10_000;
/// Fewer rows than this are handled on one thread: starting threads would cost more.
const PARALLEL_FROM: usize = 4_096;

/// An import row whose email and secret are valid.
struct CheckedRow {
    line: usize,
    email: EmailAddress,
    secret: TotpSecret,
}

/// Checks every row: a valid email and secret each, no email twice. The error is the one a
/// row-by-row check would stop at (the first line with a bad field or a repeated email).
fn check_rows(rows: &[(usize, String, String)]) -> Result<Vec<CheckedRow>, ImportError> {
    let parts = in_parallel(rows, |chunk| {
        let mut ok = Vec::with_capacity(chunk.len());
        for (line, email, secret) in chunk {
            match check_row(*line, email, secret) {
                Ok(row) => ok.push(row),
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    });
    let mut checked = Vec::with_capacity(rows.len());
    let mut first_error = None;
    for (ok, error) in parts {
        checked.extend(ok);
        if error.is_some() {
            first_error = error;
            break;
        }
    }
    // Every row before the first bad one is in `checked`, so a repeat among them comes first.
    let mut seen = HashSet::with_capacity(checked.len());
    if let Some(row) = checked.iter().find(|r| !seen.insert(r.email.as_str())) {
        return Err(ImportError {
            line: row.line,
            message: format!("{} appears twice", row.email.as_str()),
        });
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(checked),
    }
}

/// One row's fields, checked as everywhere else (normalised email, base32 seed).
fn check_row(line: usize, email: &str, secret: &str) -> Result<CheckedRow, ImportError> {
    let email = EmailAddress::parse(email).map_err(|e| ImportError {
        line,
        message: format!("email: {e}"),
    })?;
    let secret = TotpSecret::from_base32(secret).map_err(|e| ImportError {
        line,
        message: format!("secret: {e}"),
    })?;
    Ok(CheckedRow {
        line,
        email,
        secret,
    })
}

/// `f` over consecutive chunks of `items`, one chunk per CPU, results in order. A panic in `f`
/// is passed on to the caller.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let threads = if items.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(16))
    };
    if threads == 1 {
        return vec![f(items)];
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || f(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Runs CPU-heavy work on tokio's blocking threads, so the runtime's workers stay free.
async fn off_the_async_threads<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("the import preparation stopped: {e}")))
}

/// Milliseconds since `t`, for the import's progress in the debug log.
fn ms(t: std::time::Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The first `N` bytes of `bytes` (which the callers size exactly) as an array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// Who did it, as the history shows a support action.
fn operator_client(operator: &str) -> ClientInfo {
    ClientInfo {
        ip: "-".into(),
        user_agent: format!("nidan admin ({})", crate::signin::clip(operator, 100)),
    }
}
