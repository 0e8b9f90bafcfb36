//! Apps that keep their own sign-in: API keys with scopes, `POST /api/v1/verify`, codes by SMS
//! or email sent for an app (`POST /api/v1/verify/send-code`), and what a user has
//! (`GET /api/v1/verify/users/{email}`).
//!
//! Verification through an app goes through exactly the same check as interactive sign-in: the
//! same replay state (a code used on the web is refused here and the other way round) and the same
//! per-account failure count and throttle. A code sent for an app is bound to that app's key: it
//! is not a sign-in code and a sign-in code is not its, but both count against the same sending
//! limits and failure counts. The destination is always the account's own confirmed one, never
//! one the app names.

use std::time::Instant;

use nidan_domain::{BearerToken, EmailAddress, Method, token_digest};

use nidan_domain::TwoStepState;

use crate::attempt::{CodeCheck, Expect, RecordAs, Verdict};
use crate::courier::{CodePurpose, NoticeKind};
use crate::error::{ServiceError, ServiceResult};
use crate::oob::{CodeSent, method_of};
use crate::ports::{ApiKeyRecord, CodeBinding};
use crate::signin::Enrolment;
use crate::{ApiKeyId, ClientInfo, Service, token_prefix};

/// The scopes a key may carry: check codes, have codes sent, read what a user has.
pub const SCOPES: [&str; 3] = ["verify", "send", "read"];

/// How often a key's last use is written, at most (per node).
const TOUCH_EVERY_SECS: i64 = 60;

/// The answer to an app's send-code call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppSend {
    /// A code is on its way.
    Sent {
        /// By which method.
        method: Method,
        /// Where it went (masked), and the timings.
        sent: CodeSent,
    },
    /// Nothing was sent: `not_enrolled`, `unknown_user` or `account_disabled`.
    NotSent {
        /// Why.
        reason: &'static str,
    },
}

/// What an app may know of a user: whether and how to ask for a second step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppUserView {
    /// `none`, `on` or `off`.
    pub state: TwoStepState,
    /// Enrolled methods (recovery codes included when some are left).
    pub methods: Vec<Method>,
    /// The method offered first.
    pub default_method: Option<Method>,
}

/// The answer to an app's verify call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppVerdict {
    /// The code is right and is now used up.
    Valid {
        /// Which method it belonged to.
        method: Method,
    },
    /// The code is not accepted.
    Invalid {
        /// `invalid_code`, `replayed`, `not_enrolled`, `unknown_user` or
        /// `account_disabled`.
        reason: &'static str,
    },
}

impl Service {
    /// Finds the app behind an API key: from memory when it was found valid less than a
    /// second ago (see [`crate::key_cache`]), else from the store. Its last use is written at
    /// most once a minute.
    pub async fn authenticate_api_key(&self, key: &str) -> ServiceResult<ApiKeyRecord> {
        let digest = token_digest(key);
        let cache = &self.inner.api_keys;
        let cached = cache.get(&digest, Instant::now());
        let from_store = cached.is_none();
        let mut found = match cached {
            Some(found) => found,
            None => self
                .store_ref()
                .api_key_by_digest(&digest)
                .await?
                .ok_or(ServiceError::Unauthenticated)?,
        };
        let now = self.now();
        let touch = found
            .last_used_at
            .is_none_or(|t| now - t >= TOUCH_EVERY_SECS);
        if touch {
            self.store_ref().touch_api_key(&found.id, now).await?;
            found.last_used_at = Some(now);
        }
        if from_store || touch {
            cache.put(digest, found.clone(), Instant::now());
        }
        Ok(found)
    }

    /// 403 unless the key carries `scope`.
    pub fn require_scope(&self, key: &ApiKeyRecord, scope: &'static str) -> ServiceResult<()> {
        if key.allows(scope) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(match scope {
                "send" => "this API key may not have codes sent (scope `send`)",
                "read" => "this API key may not read users (scope `read`)",
                _ => "this API key may not verify codes (scope `verify`)",
            }))
        }
    }

    /// The active keys, by name (never the keys themselves).
    pub async fn list_api_keys(&self) -> ServiceResult<Vec<ApiKeyRecord>> {
        Ok(self.store_ref().list_api_keys().await?)
    }

    /// Creates an API key with these scopes (`verify`, `send`, `read`); the key itself is
    /// returned once and only its digest is kept.
    pub async fn create_api_key(
        &self,
        name: &str,
        scopes: &[&str],
    ) -> ServiceResult<(ApiKeyRecord, BearerToken)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidRequest(
                "the key name must be 1 to 100 printable characters".into(),
            ));
        }
        if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(s)) {
            return Err(ServiceError::InvalidRequest(
                "scopes are one or more of `verify`, `send`, `read`".into(),
            ));
        }
        let scopes: Vec<&str> = SCOPES.into_iter().filter(|s| scopes.contains(s)).collect();
        let token = self.new_token(token_prefix::API_KEY);
        let record = ApiKeyRecord {
            id: ApiKeyId::from_random(self.random()),
            name: name.to_owned(),
            created_at: self.now(),
            scopes: scopes.join(","),
            last_used_at: None,
        };
        self.store_ref()
            .create_api_key(record.clone(), token.digest())
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    ServiceError::Conflict("an API key with this name exists already")
                }
                other => other.into(),
            })?;
        Ok((record, token))
    }

    /// Revokes an API key by name.
    pub async fn revoke_api_key(&self, name: &str) -> ServiceResult<()> {
        let revoked = self.store_ref().revoke_api_key(name, self.now()).await?;
        self.inner.api_keys.clear();
        if !revoked {
            return Err(ServiceError::NotFound("no active API key with this name"));
        }
        Ok(())
    }

    /// Checks a user's code for an app.
    pub async fn verify_for_app(
        &self,
        app: &ApiKeyRecord,
        user_email: &str,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<AppVerdict> {
        let found = match EmailAddress::parse(user_email) {
            Ok(email) => self.store_ref().account_for_check(email.as_str()).await?,
            Err(_) => None,
        };
        let Some(found) = found else {
            // Shape errors still come first, so junk is a 400 whoever it is for.
            nidan_domain::classify_code(code)
                .map_err(|e| ServiceError::InvalidRequest(format!("code: {e}")))?;
            return Ok(AppVerdict::Invalid {
                reason: "unknown_user",
            });
        };
        let user = found.user;
        if user.disabled_at.is_some() {
            nidan_domain::classify_code(code)
                .map_err(|e| ServiceError::InvalidRequest(format!("code: {e}")))?;
            return Ok(AppVerdict::Invalid {
                reason: "account_disabled",
            });
        }
        let enrolment = Enrolment::new(
            found.totp,
            found.oob,
            found.recovery_codes_left,
            found.webauthn_keys,
        );
        if !enrolment.has_method() && enrolment.recovery_codes_left == 0 {
            nidan_domain::classify_code(code)
                .map_err(|e| ServiceError::InvalidRequest(format!("code: {e}")))?;
            return Ok(AppVerdict::Invalid {
                reason: "not_enrolled",
            });
        }
        let detail = Some(format!("app: {}", app.name));
        // Success and rejection are recorded by the settling transaction itself.
        let record = RecordAs {
            kind: "app_verify",
            client,
            detail: detail.clone(),
        };
        // A code this app had sent by SMS or email counts as well as the app's and recovery codes;
        // looked for only when the account has a number or address for codes (no extra read on
        // the path of authenticator apps).
        let sent_for_app = CodeBinding::App(app.id.clone());
        let has_oob = !enrolment.oob.is_empty();
        match self
            .check_code(CodeCheck {
                totp: enrolment.totp.as_ref(),
                oob: has_oob.then_some(&sent_for_app),
                record: Some(record),
                ..CodeCheck::new(user.clone(), Expect::AnyCurrent, code)
            })
            .await
        {
            Ok(Verdict::Accepted {
                method,
                recovery_codes_left,
            }) => {
                if method == Method::Recovery {
                    self.recovery_code_used(&user.id, recovery_codes_left.unwrap_or(0), client)
                        .await;
                }
                Ok(AppVerdict::Valid { method })
            }
            Ok(Verdict::Rejected { replayed, .. }) => Ok(AppVerdict::Invalid {
                reason: if replayed { "replayed" } else { "invalid_code" },
            }),
            Err(e @ ServiceError::RateLimited { .. }) => {
                self.record(&user.id, "app_verify", None, "throttled", client, detail)
                    .await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a code by SMS or email for an app, to the account's own confirmed destination of
    /// `method` (default: the account's default of the two, else the one it has). The app then
    /// checks it with `/api/v1/verify`. The first time an app sends to an account, the account
    /// is told which app.
    pub async fn send_code_for_app(
        &self,
        app: &ApiKeyRecord,
        user_email: &str,
        method: Option<Method>,
        client: &ClientInfo,
    ) -> ServiceResult<AppSend> {
        if method.is_some_and(|m| !matches!(m, Method::Sms | Method::Email)) {
            return Err(ServiceError::InvalidRequest(
                "method: `sms` or `email` (the others need no code sent)".into(),
            ));
        }
        let found = match EmailAddress::parse(user_email) {
            Ok(email) => self.store_ref().account_for_check(email.as_str()).await?,
            Err(_) => None,
        };
        let Some(found) = found else {
            return Ok(AppSend::NotSent {
                reason: "unknown_user",
            });
        };
        let user = found.user;
        if user.disabled_at.is_some() {
            return Ok(AppSend::NotSent {
                reason: "account_disabled",
            });
        }
        let confirmed: Vec<_> = found
            .oob
            .into_iter()
            .filter(|m| m.confirmed_at.is_some())
            .collect();
        let wanted = method.or(user
            .default_method
            .filter(|m| matches!(m, Method::Sms | Method::Email)));
        let chosen = match wanted {
            Some(m) => confirmed.iter().find(|o| method_of(o.channel) == m),
            None => confirmed.first(),
        };
        let Some(target) = chosen else {
            return Ok(AppSend::NotSent {
                reason: "not_enrolled",
            });
        };
        let method = method_of(target.channel);
        let sent = self
            .send_code(
                &user,
                CodeBinding::App(app.id.clone()),
                target.channel,
                &target.destination,
                CodePurpose::SignIn,
                client,
            )
            .await?;
        let detail = format!("app: {}", app.name);
        let first = !self
            .store_ref()
            .has_activity(&user.id, "code_sent", &detail)
            .await?;
        self.record(
            &user.id,
            "code_sent",
            Some(method),
            "sent",
            client,
            Some(detail),
        )
        .await;
        if first {
            let kind = NoticeKind::AppSentCode {
                app: app.name.clone(),
                method: method.as_str().into(),
            };
            self.notify(&user.id, kind, client).await;
        }
        Ok(AppSend::Sent { method, sent })
    }

    /// Whether and how an app should ask a user for a second step; `NotFound` for an unknown
    /// email.
    pub async fn app_user_view(&self, user_email: &str) -> ServiceResult<AppUserView> {
        let email = EmailAddress::parse(user_email)
            .map_err(|_| ServiceError::NotFound("no account with this email"))?;
        let found = self
            .store_ref()
            .account_for_check(email.as_str())
            .await?
            .ok_or(ServiceError::NotFound("no account with this email"))?;
        let user = found.user;
        let confirmed: Vec<Method> = found
            .oob
            .iter()
            .filter(|m| m.confirmed_at.is_some())
            .map(|m| method_of(m.channel))
            .collect();
        let mut methods = Vec::new();
        if found.totp.is_some() {
            methods.push(Method::Totp);
        }
        for m in [Method::Sms, Method::Email] {
            if confirmed.contains(&m) {
                methods.push(m);
            }
        }
        let has_method = !methods.is_empty();
        if found.recovery_codes_left > 0 {
            methods.push(Method::Recovery);
        }
        Ok(AppUserView {
            state: Self::two_step_state(user.two_step_enabled, has_method),
            default_method: user.default_method.filter(|_| has_method),
            methods,
        })
    }
}
