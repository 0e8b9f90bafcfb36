//! Apps that keep their own sign-in: API keys and `POST /api/v1/verify`.
//!
//! Verification through an app goes through exactly the same check as interactive sign-in: the
//! same replay state (a code used on the web is refused here and the other way round) and the same
//! per-account failure count and throttle.

use std::time::Instant;

use nidan_domain::{BearerToken, EmailAddress, Method, token_digest};

use crate::attempt::{CodeCheck, Expect, RecordAs, Verdict};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::ApiKeyRecord;
use crate::signin::Enrolment;
use crate::{ApiKeyId, ClientInfo, Service, token_prefix};

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
    /// second ago (see [`crate::key_cache`]), else from the store.
    pub async fn authenticate_api_key(&self, key: &str) -> ServiceResult<ApiKeyRecord> {
        let digest = token_digest(key);
        let cache = &self.inner.api_keys;
        if let Some(found) = cache.get(&digest, Instant::now()) {
            return Ok(found);
        }
        let found = self
            .store_ref()
            .api_key_by_digest(&digest)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        cache.put(digest, found.clone(), Instant::now());
        Ok(found)
    }

    /// Creates an API key; the key itself is returned once and only its digest is kept.
    pub async fn create_api_key(&self, name: &str) -> ServiceResult<(ApiKeyRecord, BearerToken)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidRequest(
                "the key name must be 1 to 100 printable characters".into(),
            ));
        }
        let token = self.new_token(token_prefix::API_KEY);
        let record = ApiKeyRecord {
            id: ApiKeyId::from_random(self.random()),
            name: name.to_owned(),
            created_at: self.now(),
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
        let enrolment = Enrolment::new(found.totp, found.oob, found.recovery_codes_left);
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
        match self
            .check_code(CodeCheck {
                totp: enrolment.totp.as_ref(),
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
}
