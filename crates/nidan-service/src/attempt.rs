//! Checking a submitted code: the one routine every path shares (sign-in, the app API, settings,
//! enrolment), so replay state and failure counts can never diverge between paths.
//!
//! Order matters: the shape of the code is checked first (junk is a 400, not a guess); then the
//! account throttle; then the code is evaluated locally; and finally the store settles the attempt
//! in one transaction that reserves it against the failure count the throttle decision was based
//! on. A burst of parallel guesses therefore gets exactly as many evaluations as the throttle
//! allows, and a code is consumed at most once.

use nidan_domain::{
    Method, NumericCode, SubmittedCode, TotpCheck, check_totp, classify_code, keyed_hash,
    normalize_numeric_code, normalize_recovery_code, seed_aad,
};

use crate::error::{ServiceError, ServiceResult};
use crate::ports::{
    Attempt, Candidate, ChallengeAttempt, CodeBinding, Settled, TotpCredential, UserRecord,
};
use crate::{ClientInfo, Service, UnixTime, UserId};

/// Which kinds of code the caller accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Only this method.
    Method(Method),
    /// Any enrolled method, a recovery code included ("a current code").
    AnyCurrent,
}

/// The result of a settled check.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Right, and now consumed.
    Accepted {
        method: Method,
        recovery_codes_left: Option<u32>,
    },
    /// Wrong (or replayed); the failure is counted.
    Rejected {
        method: Method,
        replayed: bool,
        attempts_left: Option<u32>,
    },
}

/// How a settled check is recorded in the activity log, in the same transaction as the check
/// (see [`Attempt::record`]); method and result come from the check itself.
pub(crate) struct RecordAs<'a> {
    pub kind: &'static str,
    pub client: &'a ClientInfo,
    pub detail: Option<String>,
}

pub(crate) const RECOVERY_PURPOSE: &str = "recovery-code";

/// One code to check: whose, what kind is accepted, and what it may match.
pub(crate) struct CodeCheck<'a> {
    /// The account (its failure count is the compare of the settling compare-and-swap).
    pub user: UserRecord,
    /// Which kinds of code are accepted.
    pub expect: Expect,
    /// The code as typed, or a security key's answer already judged.
    pub answer: Given<'a>,
    /// The credential a numeric code is checked against: the active one, or the pending one
    /// while confirming an enrolment.
    pub totp: Option<&'a TotpCredential>,
    /// The binding of a code sent by email or SMS that may match.
    pub oob: Option<&'a CodeBinding>,
    /// The sign-in challenge the code answers, with what a success grants.
    pub challenge: Option<ChallengeAttempt>,
    /// With it, the outcome is written to the activity log in the settling transaction.
    pub record: Option<RecordAs<'a>>,
}

/// What a [`CodeCheck`] checks.
pub(crate) enum Given<'a> {
    /// A code as typed.
    Code(&'a str),
    /// A security key's answer, already judged ([`Service::key_candidate`]): what it matched,
    /// and whether it was a replay.
    Key(Candidate, bool),
}

impl<'a> CodeCheck<'a> {
    /// A check of `code` for `user`, against nothing yet.
    pub(crate) fn new(user: UserRecord, expect: Expect, code: &'a str) -> Self {
        Self::of(user, expect, Given::Code(code))
    }

    /// A check of `answer` for `user`, against nothing yet.
    pub(crate) fn of(user: UserRecord, expect: Expect, answer: Given<'a>) -> Self {
        Self {
            user,
            expect,
            answer,
            totp: None,
            oob: None,
            challenge: None,
            record: None,
        }
    }
}

/// Parses a code into the form the method needs. Junk is `InvalidRequest`, never a counted guess.
fn parse_code(expect: Expect, code: &str) -> ServiceResult<SubmittedCode> {
    let bad = |e: nidan_domain::CodeError| ServiceError::InvalidRequest(format!("code: {e}"));
    match expect {
        Expect::Method(Method::Recovery) => normalize_recovery_code(code)
            .map(SubmittedCode::Recovery)
            .map_err(bad),
        Expect::Method(_) => normalize_numeric_code(code, 6)
            .map(SubmittedCode::Numeric)
            .map_err(bad),
        Expect::AnyCurrent => classify_code(code).map_err(bad),
    }
}

impl Service {
    /// Refuses the attempt when the account is being throttled. A locked account still takes a
    /// recovery code, at most one an hour (the capped delay), because that is how it unlocks.
    pub(crate) fn throttle_gate(
        &self,
        user: &UserRecord,
        method: Method,
        now: UnixTime,
    ) -> ServiceResult<()> {
        let policy = &self.inner.policy.throttle;
        let last = user.last_failure_at.unwrap_or(0);
        match policy.state(user.failed_attempts, last, now) {
            nidan_domain::ThrottleState::Open => Ok(()),
            nidan_domain::ThrottleState::Wait { retry_after_secs } => {
                Err(ServiceError::RateLimited {
                    retry_after: retry_after_secs.max(1),
                    locked: false,
                    message: "too many wrong codes; wait, then try again",
                })
            }
            nidan_domain::ThrottleState::Locked => {
                let wait = last
                    .saturating_add(policy.max_delay_secs as i64)
                    .saturating_sub(now);
                if method == Method::Recovery && wait <= 0 {
                    Ok(())
                } else {
                    Err(ServiceError::RateLimited {
                        retry_after: wait.max(1) as u64,
                        locked: true,
                        message: "too many wrong codes: the second step is locked; use a recovery code, or ask support to reset it",
                    })
                }
            }
        }
    }

    /// What every interactive path does with a verdict: a rejected code is recorded as `kind`
    /// and answered `invalid_code`; an accepted one is recorded as `kind` when `record_success`,
    /// and a used recovery code sends its notice. Answers the method and the recovery codes left.
    pub(crate) async fn decided(
        &self,
        user: &UserId,
        kind: &'static str,
        verdict: Verdict,
        record_success: bool,
        client: &ClientInfo,
    ) -> ServiceResult<(Method, Option<u32>)> {
        match verdict {
            Verdict::Accepted {
                method,
                recovery_codes_left,
            } => {
                if record_success {
                    self.record(user, kind, Some(method), "success", client, None)
                        .await;
                }
                if method == Method::Recovery {
                    self.recovery_code_used(user, recovery_codes_left.unwrap_or(0), client)
                        .await;
                }
                Ok((method, recovery_codes_left))
            }
            Verdict::Rejected {
                method,
                replayed,
                attempts_left,
            } => {
                let result = if replayed { "replayed" } else { "invalid_code" };
                self.record(user, kind, Some(method), result, client, None)
                    .await;
                Err(ServiceError::InvalidCode { attempts_left })
            }
        }
    }

    pub(crate) fn open_seed(
        &self,
        credential: &TotpCredential,
    ) -> ServiceResult<zeroize::Zeroizing<Vec<u8>>> {
        let aad = seed_aad(credential.user_id.as_str(), credential.id.as_str());
        self.inner.secrets.keyring.open(&credential.sealed_secret, &aad).map_err(|e| {
            tracing::error!(credential = %credential.id, error = %e, "a TOTP seed could not be opened");
            ServiceError::Internal("sealed seed".into())
        })
    }

    pub(crate) fn recovery_digest(&self, user: &UserId, canonical: &str) -> [u8; 32] {
        keyed_hash(
            &self.inner.secrets.hash_key,
            RECOVERY_PURPOSE,
            &[user.as_str().as_bytes(), canonical.as_bytes()],
        )
    }

    fn totp_candidate(
        &self,
        credential: Option<&TotpCredential>,
        code: &NumericCode,
        now: UnixTime,
    ) -> ServiceResult<(Candidate, bool)> {
        let Some(credential) = credential else {
            return Ok((Candidate::Wrong, false));
        };
        let seed = self.open_seed(credential)?;
        Ok(
            match check_totp(
                &seed,
                code,
                now,
                self.inner.policy.totp_window,
                credential.last_used_step,
            ) {
                TotpCheck::Accepted { step } => (
                    Candidate::TotpStep {
                        credential_id: credential.id.clone(),
                        step,
                    },
                    false,
                ),
                TotpCheck::Replayed => (Candidate::Wrong, true),
                TotpCheck::Invalid => (Candidate::Wrong, false),
            },
        )
    }

    /// The candidate for a code sent by email or SMS: the live code of the binding, if its
    /// channel is the one asked for (any channel when `method` is None).
    async fn oob_candidate(
        &self,
        user: &UserRecord,
        binding: Option<&CodeBinding>,
        method: Option<Method>,
        code: &NumericCode,
    ) -> ServiceResult<Option<(Candidate, Method)>> {
        let Some(binding) = binding else {
            return Ok(None);
        };
        let Some(live) = self.store_ref().live_code(&user.id, binding).await? else {
            return Ok(None);
        };
        let live_method = crate::oob::method_of(live.channel);
        if method.is_some_and(|m| m != live_method) {
            return Ok(None);
        }
        let candidate = Candidate::OobCode {
            digest: self.oob_digest(&live.id, code.as_str()),
            code_id: live.id,
            max_attempts: self.inner.policy.codes.max_attempts,
        };
        Ok(Some((candidate, live_method)))
    }

    /// Checks a code and settles the attempt (see [`CodeCheck`]).
    pub(crate) async fn check_code(&self, check: CodeCheck<'_>) -> ServiceResult<Verdict> {
        let CodeCheck {
            mut user,
            expect,
            answer,
            totp,
            oob,
            challenge,
            record,
        } = check;
        let (submitted, key) = match answer {
            Given::Code(code) => (Some(parse_code(expect, code)?), None),
            Given::Key(candidate, replayed) => (None, Some((candidate, replayed))),
        };
        let mut method = match &submitted {
            Some(SubmittedCode::Numeric(_)) => match expect {
                Expect::Method(m) => m,
                Expect::AnyCurrent => Method::Totp,
            },
            Some(SubmittedCode::Recovery(_)) => Method::Recovery,
            None => Method::Webauthn,
        };
        // A few rounds: `Raced` means another attempt on this account landed between our read
        // and our write; decide again from fresh state rather than guess.
        for _ in 0..5 {
            let now = self.now();
            self.throttle_gate(&user, method, now)?;
            let (candidate, replay_seen) = match (&submitted, expect) {
                (None, _) => key.clone().unwrap_or((Candidate::Wrong, false)),
                (
                    Some(SubmittedCode::Numeric(code)),
                    Expect::Method(m @ (Method::Email | Method::Sms)),
                ) => {
                    let found = self.oob_candidate(&user, oob, Some(m), code).await?;
                    (found.map(|(c, _)| c).unwrap_or(Candidate::Wrong), false)
                }
                (Some(SubmittedCode::Numeric(code)), Expect::AnyCurrent) => {
                    match self.totp_candidate(totp, code, now)? {
                        (Candidate::Wrong, false) => {
                            match self.oob_candidate(&user, oob, None, code).await? {
                                Some((c, m)) => {
                                    method = m;
                                    (c, false)
                                }
                                None => (Candidate::Wrong, false),
                            }
                        }
                        found => found,
                    }
                }
                (Some(SubmittedCode::Numeric(code)), _) => self.totp_candidate(totp, code, now)?,
                (Some(SubmittedCode::Recovery(code)), _) => (
                    Candidate::RecoveryDigest(self.recovery_digest(&user.id, code.canonical())),
                    false,
                ),
            };
            let attempt = Attempt {
                user_id: user.id.clone(),
                seen_failures: user.failed_attempts,
                now,
                candidate,
                challenge: challenge.clone(),
                record: record.as_ref().map(|r| {
                    let rejected = if replay_seen {
                        "replayed"
                    } else {
                        "invalid_code"
                    };
                    self.activity_line(
                        &user.id,
                        r.kind,
                        Some(method),
                        rejected,
                        r.client,
                        r.detail.clone(),
                    )
                }),
            };
            match self.store_ref().settle_attempt(attempt).await? {
                Settled::Raced => {
                    user = self
                        .store_ref()
                        .user_by_id(&user.id)
                        .await?
                        .ok_or(ServiceError::Unauthenticated)?;
                }
                Settled::ChallengeDead => return Err(ServiceError::ChallengeExpired),
                Settled::Accepted {
                    recovery_codes_left,
                } => {
                    return Ok(Verdict::Accepted {
                        method,
                        recovery_codes_left,
                    });
                }
                Settled::Rejected {
                    challenge_attempts_left,
                    replayed,
                    ..
                } => {
                    if replayed || replay_seen {
                        tracing::warn!(user = %user.id, method = method.as_str(), "a used code was submitted again");
                    }
                    return Ok(Verdict::Rejected {
                        method,
                        replayed: replayed || replay_seen,
                        attempts_left: challenge_attempts_left,
                    });
                }
            }
        }
        Err(ServiceError::RateLimited {
            retry_after: 1,
            locked: false,
            message: "too many attempts at once; try again",
        })
    }
}
