//! Security keys and passkeys (WebAuthn): registering them, their use as a second step, and
//! removing them.
//!
//! The relying party's checks (client data, origin, rp id hash, signature, flags, user
//! verification, the signature counter going backwards) are `webauthn-rs`'s: a relying-party
//! library with every ceremony nidan needs (security keys, passkeys, discoverable sign-in) and,
//! in its 0.6 line, pure Rust (no OpenSSL to link). What it leaves to its caller is done here
//! and in the store:
//!
//! - A ceremony's state is kept in the database (any node may finish it) and *taken* by one
//!   DELETE … RETURNING before the answer is checked, whatever the answer: a challenge is
//!   answered once, on any number of nodes, and a replayed assertion finds nothing to answer.
//! - A use settles with the other second steps (`settle_attempt`): the per-account failure count,
//!   the challenge's attempts, and a conditional UPDATE that accepts the key only if its counter
//!   goes up (or stays at 0, for keys that never count), all in one transaction.
//! - The user handle is not the account id: it is derived from it under the service's hash key,
//!   so an authenticator never carries anything that names the account.
//!
//! Registration asks for the password and, when the account has another method, a current code
//! (adding a way in is a sensitive change); the first key turns two-step on and hands out the
//! recovery codes, as any first method does. Removal asks for both too.

use nidan_domain::{BearerToken, Method, RecoveryCode, SecondStep, keyed_hash, token_digest};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::attempt::{CodeCheck, Expect, Given};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::{Candidate, UserRecord, WebauthnCeremony, WebauthnKey};
use crate::session::AuthContext;
use crate::signin::UserSummary;
use crate::two_step::StepUp;
use crate::{ClientInfo, CredentialId, Service, UserId, token_prefix};

/// How long a ceremony may take: WebAuthn's recommended timeout for the user to touch the key.
pub const CEREMONY_SECS: i64 = 300;
/// The most keys an account may have.
pub const MAX_KEYS: usize = 20;
/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The keyed-hash purpose of user handles.
const HANDLE_PURPOSE: &str = "webauthn-user-handle";

/// The relying party for `public_url`: its host is the rp id, its origin the only origin.
/// `None` (logged) when the URL names no host: browsers refuse WebAuthn on an IP address.
pub(crate) fn relying_party(public_url: &str, name: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    let built = origin
        .domain()
        .ok_or(WebauthnError::Configuration)
        .and_then(|rp_id| WebauthnBuilder::new(rp_id, &origin))
        .and_then(|b| b.rp_name(name).build());
    match built {
        Ok(webauthn) => Some(webauthn),
        Err(e) => {
            tracing::info!(
                public_url,
                error = %e,
                "security keys and passkeys are unavailable: server.public_url must name a host \
                 (an IP address does not work in browsers; http://localhost does)"
            );
            None
        }
    }
}

/// What a key is registered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A security key for the second step (user verification preferred, not discoverable).
    SecurityKey,
    /// A passkey: discoverable, with user verification (a PIN, a fingerprint, a face).
    Passkey,
}

/// A ceremony's state as stored.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", content = "state", rename_all = "snake_case")]
enum Ceremony {
    SecurityKey(SecurityKeyRegistration),
    Passkey(PasskeyRegistration),
    SignIn(SecurityKeyAuthentication),
    PasskeySignIn(DiscoverableAuthentication),
}

/// A key as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    /// Its id (for removal).
    pub id: CredentialId,
    /// The name its owner gave it.
    pub name: String,
    /// Registered as a passkey.
    pub passkey: bool,
    /// When it was added.
    pub created_at: crate::UnixTime,
    /// When it last signed in.
    pub last_used_at: Option<crate::UnixTime>,
}

/// A newly registered key.
#[derive(Debug)]
pub struct Registered {
    /// Its id.
    pub id: CredentialId,
    /// The recovery codes, when this key turned two-step on.
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// The binding of a registration in progress.
fn register_binding(user: &UserId) -> String {
    format!("register:{}", user.as_str())
}

/// The binding of a passkey sign-in, by the digest of the token its browser holds.
fn passkey_binding(token_digest: &[u8; 32]) -> String {
    format!("passkey:{}", crate::ids::hex(token_digest))
}

/// A passkey sign-in started: the token that binds it to the browser that asked (a cookie on
/// the pages, `ceremony_id` in the API), and the options for `navigator.credentials.get`.
#[derive(Debug)]
pub struct PasskeyStart {
    /// Given back with the answer.
    pub token: BearerToken,
    /// `PublicKeyCredentialRequestOptions`, with no credentials listed: the authenticator offers
    /// the passkeys it holds for this site.
    pub options: serde_json::Value,
}

/// The binding of a sign-in's security-key step.
pub(crate) fn sign_in_binding(challenge_digest: &[u8; 32]) -> String {
    format!("sign-in:{}", crate::ids::hex(challenge_digest))
}

fn internal(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("{what}: {e}"))
}

/// The public-key options of a ceremony (the `publicKey` member of what webauthn-rs makes).
fn public_key_options(options: &impl Serialize) -> ServiceResult<serde_json::Value> {
    let mut json = serde_json::to_value(options).map_err(|e| internal("webauthn options", e))?;
    Ok(json
        .get_mut("publicKey")
        .map(serde_json::Value::take)
        .unwrap_or_default())
}

/// A key's stored credential, as webauthn-rs reads it.
fn credential_of(key: &WebauthnKey) -> ServiceResult<Credential> {
    serde_json::from_str(&key.credential).map_err(|e| {
        tracing::error!(key = %key.id, error = %e, "a stored security key does not decode");
        internal("stored security key", e)
    })
}

/// A key's name as given: trimmed, without control characters, 1 to [`MAX_NAME_CHARS`].
fn key_name(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::InvalidRequest(format!(
            "name: 1 to {MAX_NAME_CHARS} characters, such as \"YubiKey 5\" or \"iPhone\""
        )));
    }
    Ok(name.to_owned())
}

impl Service {
    fn relying_party(&self) -> ServiceResult<&Webauthn> {
        self.inner.webauthn.as_ref().ok_or(ServiceError::Forbidden(
            "security keys need server.public_url to name a host, not an IP address",
        ))
    }

    /// Whether security keys can be added here: the method is on and `public_url` names a host.
    pub fn webauthn_available(&self) -> bool {
        self.inner.webauthn.is_some()
            && self
                .inner
                .policy
                .enabled_methods
                .contains(&Method::Webauthn)
    }

    /// The user handle authenticators keep for `user`: 16 bytes of a keyed hash of its id.
    pub(crate) fn webauthn_handle(&self, user: &UserId) -> Uuid {
        let digest = keyed_hash(
            &self.inner.secrets.hash_key,
            HANDLE_PURPOSE,
            &[user.as_str().as_bytes()],
        );
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }

    /// The account's keys, oldest first.
    pub async fn webauthn_keys(&self, auth: &AuthContext) -> ServiceResult<Vec<KeySummary>> {
        Ok(self
            .store_ref()
            .webauthn_keys(&auth.user_id)
            .await?
            .into_iter()
            .map(|k| KeySummary {
                id: k.id,
                name: k.name,
                passkey: k.passkey,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
            })
            .collect())
    }

    /// Starts registering a key: after step-up, the options for `navigator.credentials.create`
    /// (the account's keys excluded, so one authenticator is not registered twice).
    pub async fn webauthn_register_start(
        &self,
        auth: &AuthContext,
        proof: StepUp<'_>,
        kind: KeyKind,
        client: &ClientInfo,
    ) -> ServiceResult<serde_json::Value> {
        self.check_enabled(Method::Webauthn)?;
        let rp = self.relying_party()?;
        let user = self.user_of(auth).await?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        let keys = self.store_ref().webauthn_keys(&user.id).await?;
        if keys.len() >= MAX_KEYS {
            return Err(ServiceError::Conflict(
                "this account has as many security keys as it may have; remove one first",
            ));
        }
        let exclude = keys.into_iter().map(|k| k.credential_id).collect();
        let handle = self.webauthn_handle(&user.id);
        let (options, state) = match kind {
            KeyKind::SecurityKey => {
                let (options, state) = rp
                    .start_securitykey_registration(
                        handle,
                        &user.email,
                        &user.email,
                        Some(exclude),
                        None,
                        None,
                    )
                    .map_err(|e| internal("webauthn registration", e))?;
                let mut options = public_key_options(&options)?;
                // Browsers refuse credProtect for a credential that is not discoverable
                // (Chrome: NotSupportedError); it protects discoverable credentials only.
                if let Some(extensions) = options
                    .get_mut("extensions")
                    .and_then(|e| e.as_object_mut())
                {
                    extensions.remove("credentialProtectionPolicy");
                    extensions.remove("enforceCredentialProtectionPolicy");
                }
                (options, Ceremony::SecurityKey(state))
            }
            KeyKind::Passkey => {
                let (options, state) = rp
                    .start_passkey_registration(handle, &user.email, &user.email, Some(exclude))
                    .map_err(|e| internal("webauthn registration", e))?;
                let mut options = public_key_options(&options)?;
                // A passkey must be discoverable, to sign in without a password.
                if let Some(selection) = options.get_mut("authenticatorSelection") {
                    selection["residentKey"] = "required".into();
                    selection["requireResidentKey"] = true.into();
                }
                (options, Ceremony::Passkey(state))
            }
        };
        self.put_ceremony(
            register_binding(&user.id),
            Some(&user.id),
            &state,
            CEREMONY_SECS,
        )
        .await?;
        Ok(options)
    }

    async fn put_ceremony(
        &self,
        binding: String,
        user: Option<&UserId>,
        state: &Ceremony,
        ttl: i64,
    ) -> ServiceResult<()> {
        let state = serde_json::to_string(state).map_err(|e| internal("webauthn state", e))?;
        self.store_ref()
            .put_webauthn_ceremony(WebauthnCeremony {
                binding,
                user_id: user.cloned(),
                state,
                expires_at: self.now() + ttl,
            })
            .await?;
        Ok(())
    }

    /// Takes the ceremony of `binding` (it is gone from then on, whatever follows).
    async fn take_ceremony(&self, binding: &str) -> ServiceResult<Option<Ceremony>> {
        let Some(taken) = self
            .store_ref()
            .take_webauthn_ceremony(binding, self.now())
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(&taken.state)
            .map(Some)
            .map_err(|e| internal("stored webauthn state", e))
    }

    /// Finishes a registration with the authenticator's answer (`navigator.credentials.create`,
    /// as `toJSON()` gives it). The first key turns two-step on and answers the recovery codes.
    pub async fn webauthn_register_finish(
        &self,
        auth: &AuthContext,
        name: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> ServiceResult<Registered> {
        let name = key_name(name)?;
        let rp = self.relying_party()?;
        let answer: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| ServiceError::InvalidRequest(format!("credential: {e}")))?;
        let user = self.user_of(auth).await?;
        let ceremony = self
            .take_ceremony(&register_binding(&user.id))
            .await?
            .ok_or(ServiceError::Conflict(
                "there is no security-key registration to finish (it is used once and lasts 5 minutes); start again",
            ))?;
        let made = match &ceremony {
            Ceremony::SecurityKey(state) => rp
                .finish_securitykey_registration(&answer, state)
                .map(|k| (Credential::from(k), false)),
            Ceremony::Passkey(state) => rp
                .finish_passkey_registration(&answer, state)
                .map(|k| (Credential::from(k), true)),
            Ceremony::SignIn(_) | Ceremony::PasskeySignIn(_) => {
                Err(WebauthnError::MismatchedChallenge)
            }
        };
        let (made, passkey) = match made {
            Ok(made) => made,
            Err(e) => {
                self.record(
                    &user.id,
                    "method_added",
                    Some(Method::Webauthn),
                    "failure",
                    client,
                    Some(e.to_string()),
                )
                .await;
                return Err(ServiceError::InvalidRequest(format!(
                    "the security key's answer was not accepted: {e}"
                )));
            }
        };
        let id = CredentialId::from_random(self.random());
        let key = WebauthnKey {
            id: id.clone(),
            user_id: user.id.clone(),
            credential_id: made.cred_id.to_vec(),
            name: name.clone(),
            passkey,
            credential: serde_json::to_string(&made).map_err(|e| internal("security key", e))?,
            counter: made.counter,
            created_at: self.now(),
            last_used_at: None,
        };
        let first_time = !self.enrolment(&user.id).await?.has_method();
        let (codes, first) =
            self.first_method(&user.id, Method::Webauthn, first_time, &auth.session_id);
        self.store_ref()
            .add_webauthn_key(key, first)
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    ServiceError::Conflict("this security key is registered already")
                }
                other => other.into(),
            })?;
        self.forget_gate_sessions();
        self.method_added(&user.id, Method::Webauthn, Some(name), first_time, client)
            .await;
        Ok(Registered {
            id,
            recovery_codes: codes,
        })
    }

    /// Removes one of the account's keys, after step-up.
    pub async fn webauthn_remove(
        &self,
        auth: &AuthContext,
        id: &CredentialId,
        proof: StepUp<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let user = self.user_of(auth).await?;
        let keys = self.store_ref().webauthn_keys(&user.id).await?;
        let key = keys
            .iter()
            .find(|k| &k.id == id)
            .ok_or(ServiceError::NotFound("no such security key"))?;
        self.step_up(&user, proof, Some(&auth.session_id), client)
            .await?;
        if !self.store_ref().delete_webauthn_key(&user.id, id).await? {
            return Err(ServiceError::NotFound("no such security key"));
        }
        self.method_removed(&user.id, Method::Webauthn, Some(key.name.clone()), client)
            .await;
        Ok(())
    }

    /// Starts a sign-in's security-key step: the options for `navigator.credentials.get`, over
    /// every key of the account. Starting again replaces the earlier options.
    pub async fn webauthn_sign_in_start(
        &self,
        challenge_token: &str,
    ) -> ServiceResult<serde_json::Value> {
        let rp = self.relying_party()?;
        let digest = token_digest(challenge_token);
        let crate::signin::LiveChallenge {
            record: challenge,
            user,
            ..
        } = self.live_challenge(&digest, Method::Webauthn).await?;
        let now = self.now();
        let keys = self.store_ref().webauthn_keys(&user.id).await?;
        let allowed = keys
            .iter()
            .map(|k| credential_of(k).map(SecurityKey::from))
            .collect::<ServiceResult<Vec<_>>>()?;
        let (options, state) = rp
            .start_securitykey_authentication(&allowed)
            .map_err(|e| internal("webauthn sign-in", e))?;
        let ttl = CEREMONY_SECS.min(challenge.expires_at - now);
        self.put_ceremony(
            sign_in_binding(&digest),
            Some(&user.id),
            &Ceremony::SignIn(state),
            ttl,
        )
        .await?;
        public_key_options(&options)
    }

    /// What a security key's answer to a sign-in's ceremony is worth: the key and its new
    /// counter when the answer is good, else `Wrong` (with `true` when it replays an answer or a
    /// counter). The ceremony is taken first, so it is answered once whatever the answer.
    pub(crate) async fn key_candidate(
        &self,
        user: &UserRecord,
        challenge_digest: &[u8; 32],
        credential: &serde_json::Value,
    ) -> ServiceResult<(Candidate, bool)> {
        let rp = self.relying_party()?;
        let answer: PublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| ServiceError::InvalidRequest(format!("credential: {e}")))?;
        let state = match self
            .take_ceremony(&sign_in_binding(challenge_digest))
            .await?
        {
            Some(Ceremony::SignIn(state)) => state,
            // Answered already (or never started): nothing left to answer.
            _ => return Ok((Candidate::Wrong, true)),
        };
        let checked = rp.finish_securitykey_authentication(&answer, &state);
        let keys = self.store_ref().webauthn_keys(&user.id).await?;
        let used = checked.as_ref().ok().and_then(|result| {
            keys.iter()
                .find(|k| k.credential_id.as_slice() == result.cred_id().as_slice())
        });
        match used {
            Some(key) => judged(&user.id, key, checked),
            None => judged_without_key(&user.id, checked.err()),
        }
    }
}

/// What a key's checked answer is worth: the key with its new counter when the check passed,
/// else `Wrong` (`true` when the counter went backwards: a cloned key, or a replayed answer).
fn judged(
    user: &UserId,
    key: &WebauthnKey,
    checked: Result<AuthenticationResult, WebauthnError>,
) -> ServiceResult<(Candidate, bool)> {
    let result = match checked {
        Ok(result) => result,
        Err(e) => return judged_without_key(user, Some(e)),
    };
    let mut used = SecurityKey::from(credential_of(key)?);
    used.update_credential(&result);
    let credential =
        serde_json::to_string(&Credential::from(used)).map_err(|e| internal("security key", e))?;
    Ok((
        Candidate::SecurityKey {
            key_id: key.id.clone(),
            counter: result.counter(),
            credential,
        },
        false,
    ))
}

/// `Wrong` for a refused answer (or one by no key of the account), logged.
fn judged_without_key(
    user: &UserId,
    refusal: Option<WebauthnError>,
) -> ServiceResult<(Candidate, bool)> {
    match refusal {
        Some(WebauthnError::CredentialPossibleCompromise) => {
            tracing::warn!(%user, "a security key's counter went backwards (a cloned key, or a replayed answer)");
            Ok((Candidate::Wrong, true))
        }
        Some(e) => {
            tracing::info!(%user, error = %e, "a security key's answer was refused");
            Ok((Candidate::Wrong, false))
        }
        None => Ok((Candidate::Wrong, false)),
    }
}

impl Service {
    /// Starts a sign-in with a passkey and no password.
    pub async fn passkey_sign_in_start(&self) -> ServiceResult<PasskeyStart> {
        let rp = self.relying_party()?;
        let (options, state) = rp
            .start_discoverable_authentication()
            .map_err(|e| internal("passkey sign-in", e))?;
        let token = self.new_token(token_prefix::PASSKEY);
        self.put_ceremony(
            passkey_binding(&token.digest()),
            None,
            &Ceremony::PasskeySignIn(state),
            CEREMONY_SECS,
        )
        .await?;
        Ok(PasskeyStart {
            token,
            options: public_key_options(&options)?,
        })
    }

    /// Finishes a passkey sign-in: the passkey names its account (the user handle, which must be
    /// the one nidan gave that account, and the credential, which must be that account's), its
    /// answer is checked as every key's is, and settles against the account's failure count.
    /// It verified its user (a PIN or biometric: the ceremony requires it), so the session counts
    /// as two steps.
    pub async fn passkey_sign_in(
        &self,
        token: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> ServiceResult<(BearerToken, UserSummary)> {
        let rp = self.relying_party()?;
        let answer: PublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| ServiceError::InvalidRequest(format!("credential: {e}")))?;
        let state = match self
            .take_ceremony(&passkey_binding(&token_digest(token)))
            .await?
        {
            Some(Ceremony::PasskeySignIn(state)) => state,
            _ => return Err(ServiceError::ChallengeExpired),
        };
        let (handle, credential_id) = rp
            .identify_discoverable_authentication(&answer)
            .map_err(|_| ServiceError::InvalidCredentials)?;
        let key = self
            .store_ref()
            .webauthn_key_by_credential_id(credential_id)
            .await?
            .filter(|k| self.webauthn_handle(&k.user_id) == handle)
            .ok_or(ServiceError::InvalidCredentials)?;
        let user = self
            .store_ref()
            .user_by_id(&key.user_id)
            .await?
            .ok_or(ServiceError::InvalidCredentials)?;
        if user.disabled_at.is_some() {
            self.record(
                &user.id,
                "sign_in",
                Some(Method::Webauthn),
                "disabled",
                client,
                None,
            )
            .await;
            return Err(ServiceError::Forbidden(
                "this account is disabled; contact support",
            ));
        }
        let checked =
            rp.finish_discoverable_authentication_v2(&answer, state, &credential_of(&key)?);
        let (candidate, replayed) = judged(&user.id, &key, checked)?;
        let verdict = self
            .check_code(CodeCheck::of(
                user.clone(),
                Expect::Method(Method::Webauthn),
                Given::Key(candidate, replayed),
            ))
            .await?;
        self.decided(&user.id, "sign_in", verdict, false, client)
            .await?;
        let (session_token, session) =
            self.new_session(&user.id, client, Some(SecondStep::Passkey));
        self.store_ref().create_session(session).await?;
        self.record(
            &user.id,
            "sign_in",
            Some(Method::Webauthn),
            "success",
            client,
            Some(format!("passkey \"{}\", no password", key.name)),
        )
        .await;
        Ok((
            session_token,
            UserSummary {
                id: user.id,
                email: user.email,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relying_party_needs_a_host() {
        assert!(relying_party("https://auth.example.com", "Example").is_some());
        assert!(relying_party("http://localhost:8080", "Example").is_some());
        assert!(relying_party("http://127.0.0.1:8080", "Example").is_none());
        assert!(relying_party("not a url", "Example").is_none());
    }

    #[test]
    fn key_names_are_trimmed_and_bounded() {
        assert_eq!(key_name("  YubiKey 5 ").ok().as_deref(), Some("YubiKey 5"));
        assert!(key_name("").is_err());
        assert!(key_name("   ").is_err());
        assert!(key_name("a\nb").is_err());
        assert!(key_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(key_name(&"鍵".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
