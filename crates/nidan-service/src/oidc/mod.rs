//! nidan as an OpenID Connect provider: other apps sign their users in with nidan's sign-in and
//! second step (authorization code flow only).
//!
//! - **Authorize**: the client and its redirect URI are checked first (exact match); anything
//!   wrong with them is shown to the user, never redirected. Then PKCE (`S256`, required for
//!   public clients), `prompt`, `max_age`, `acr_values`, and the session: without a good enough
//!   one the browser signs in (and comes back), with one a 60-second one-time code goes back to
//!   the client.
//! - **Token**: the code is redeemed once, by its client, with its redirect URI and PKCE
//!   verifier; a second redemption revokes what the first issued. Access tokens are opaque
//!   (random, kept as digests): userinfo and revocation look them up, so a revoked one stops at
//!   once, and nothing about the user travels inside them. ID tokens are JWTs signed RS256 (or
//!   EdDSA for clients registered for it). Refresh tokens (scope `offline_access`) rotate on
//!   every use; a reused one revokes its whole family.
//! - **prompt=login / max_age**: the sign-in must be newer than the request; the time the
//!   request asked for is carried through the sign-in page MAC'd under the hash key, so a
//!   stolen session cannot edit it away.

pub mod clients;
pub mod keys;

use nidan_domain::{
    ACR_TWO_STEP, OidcError, SecondStep, acr, amr, check_pkce, granted_scopes, keyed_hash,
    pkce_matches, token_digest,
};
use serde_json::{Value, json};

use crate::error::{ServiceError, ServiceResult};
use crate::gate::GateUser;
use crate::ports::{AuthCode, OidcApp, OidcClient, OidcToken, Redeemed, TokenKind, code_family};
use crate::{Service, UnixTime};

/// An authorization code lives this long.
pub const CODE_TTL_SECS: i64 = 60;
/// An access token lives this long.
pub const ACCESS_TTL_SECS: i64 = 900;
/// An ID token lives this long.
pub const ID_TOKEN_TTL_SECS: i64 = 600;
/// A refresh token lives this long (each use makes a new one).
pub const REFRESH_TTL_SECS: i64 = 30 * 86_400;

/// Token prefixes (recognisable when leaked; no secret in them).
pub mod prefix {
    /// Authorization codes.
    pub const CODE: &str = "ndo_";
    /// Access tokens.
    pub const ACCESS: &str = "nda_";
    /// Refresh tokens.
    pub const REFRESH: &str = "ndf_";
    /// Client secrets.
    pub const CLIENT_SECRET: &str = "ndx_";
}

/// The parameters of an authorization request, as sent.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `response_type`.
    pub response_type: String,
    /// `scope`.
    pub scope: String,
    /// `state`, returned as sent.
    pub state: Option<String>,
    /// `nonce`, put in the ID token.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `prompt`: `none`, `login`, `consent`.
    pub prompt: Option<String>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// nidan's own: the sign-in must be at least this new (`<unix time>.<mac>`), set when it sent
    /// the browser to sign in again.
    pub login_after: Option<String>,
}

/// What to do with an authorization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeStep {
    /// Send the browser to the client: this URL carries the code, or an error.
    Redirect(String),
    /// The client or its redirect URI is wrong: say so to the user, redirect nowhere.
    Refuse(String),
    /// Sign in (again, when `login_after` is set) and come back with it.
    SignIn {
        /// The time the new sign-in must not be older than, MAC'd.
        login_after: Option<String>,
    },
    /// The app wants two steps and the account has none: turn two-step on, then come back.
    TwoStepNeeded,
    /// Ask the user whether the app may have these scopes.
    Consent {
        /// The app.
        client_id: String,
        /// What it asks for.
        scopes: Vec<&'static str>,
    },
}

/// How the client authenticated at the token endpoint.
#[derive(Clone, Debug, Default)]
pub struct ClientCredentials {
    /// `client_id`.
    pub id: String,
    /// The secret (basic or post), if any.
    pub secret: Option<String>,
}

/// A token request, as sent.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// `code`.
    pub code: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `code_verifier`.
    pub code_verifier: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
}

/// What a set of tokens is issued for: the user and their sign-in, the scope, and the family
/// they belong to (the code's, kept through every refresh).
#[derive(Clone, Copy)]
struct Grant<'a> {
    user: &'a crate::UserId,
    scope: &'a str,
    auth_time: UnixTime,
    second_step: Option<SecondStep>,
    nonce: Option<&'a str>,
    family: &'a str,
}

/// An OAuth error as RFC 6749 §5.2 answers it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_token`, `server_error`.
    pub error: &'static str,
    /// Words for the developer.
    pub description: String,
}

fn oauth(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
    }
}

impl From<crate::StoreError> for OAuthError {
    fn from(e: crate::StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<ServiceError> for OAuthError {
    fn from(e: ServiceError) -> Self {
        tracing::error!(error = %e, "OpenID Connect request failed");
        oauth("server_error", "the server could not answer; try again")
    }
}

fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

impl Service {
    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn openid_configuration(&self) -> Value {
        let iss = &self.inner.policy.public_url;
        json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/oauth2/authorize"),
            "token_endpoint": format!("{iss}/oauth2/token"),
            "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
            "jwks_uri": format!("{iss}/oauth2/jwks"),
            "revocation_endpoint": format!("{iss}/oauth2/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
            "scopes_supported": nidan_domain::SCOPES,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr",
                "acr", "email", "email_verified", "groups", "name", "preferred_username"],
            "acr_values_supported": [nidan_domain::ACR_PASSWORD, ACR_TWO_STEP],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
        })
    }

    fn login_after_mac(&self, at: UnixTime, client: &str) -> String {
        let mac = keyed_hash(
            &self.inner.secrets.hash_key,
            "oidc-login-after",
            &[at.to_string().as_bytes(), client.as_bytes()],
        );
        format!("{at}.{}", data_encoding::BASE64URL_NOPAD.encode(&mac[..16]))
    }

    /// The time in a `login_after` value, if its MAC is right.
    fn login_after(&self, value: &str, client: &str) -> Option<UnixTime> {
        let at: UnixTime = value.split_once('.')?.0.parse().ok()?;
        let expected = self.login_after_mac(at, client);
        bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            value.as_bytes(),
        ))
        .then_some(at)
    }

    /// The request's client, if it is registered with this redirect URI; else the refusal to
    /// show (an unknown client or redirect URI never gets a redirect).
    async fn registered(
        &self,
        req: &AuthorizeRequest,
    ) -> ServiceResult<Result<OidcClient, AuthorizeStep>> {
        let Some(client) = self.store_ref().oidc_client(&req.client_id).await? else {
            return Ok(Err(AuthorizeStep::Refuse(format!(
                "no app is registered as `{}`",
                req.client_id
            ))));
        };
        if !client.redirect_uris.contains(&req.redirect_uri) {
            return Ok(Err(AuthorizeStep::Refuse(format!(
                "`{}` is not a redirect URI registered for `{}`",
                req.redirect_uri, client.id
            ))));
        }
        Ok(Ok(client))
    }

    /// Decides an authorization request for the browser's session (`None`: not signed in);
    /// `consented` when the user has just said yes on the consent page (recorded in the account's
    /// history, with `from`).
    pub async fn authorize(
        &self,
        req: &AuthorizeRequest,
        session: Option<&GateUser>,
        consented: bool,
        from: &crate::ClientInfo,
    ) -> ServiceResult<AuthorizeStep> {
        let client = match self.registered(req).await? {
            Ok(client) => client,
            Err(refusal) => return Ok(refusal),
        };
        // From here on, errors go back to the client.
        let fail = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(s) = &req.state {
                params.push(("state", s));
            }
            Ok(AuthorizeStep::Redirect(with_query(
                &req.redirect_uri,
                &params,
            )))
        };
        if req.response_type != "code" {
            return fail(
                "unsupported_response_type",
                &OidcError::UnsupportedResponseType.to_string(),
            );
        }
        let scopes = match granted_scopes(&req.scope) {
            Ok(s) => s,
            Err(e) => return fail("invalid_scope", &e.to_string()),
        };
        let public = client.secret_digest.is_none();
        let challenge = match check_pkce(
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
            public,
        ) {
            Ok(c) => c,
            Err(e) => return fail("invalid_request", &e.to_string()),
        };
        let prompt = req.prompt.as_deref().unwrap_or("");
        let now = self.now();
        let wants_two = req
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split_ascii_whitespace().any(|a| a == ACR_TWO_STEP));

        let Some(user) = session else {
            if prompt.split_ascii_whitespace().any(|p| p == "none") {
                return fail("login_required", "the user is not signed in");
            }
            return Ok(AuthorizeStep::SignIn { login_after: None });
        };
        // How new the sign-in must be.
        // Only a `login_after` with the right MAC counts: one edited or made up is as if absent.
        let signed_after = req
            .login_after
            .as_deref()
            .and_then(|v| self.login_after(v, &client.id));
        // max_age counts from the request; once nidan sent the browser to sign in for it, the
        // time it did so stands in (else a slow sign-in would be asked for again and again).
        let newer_than = signed_after.or(req.max_age.map(|age| now - age.max(0)));
        let stale = newer_than.is_some_and(|t| user.auth_time < t);
        // prompt=login is satisfied only by a sign-in made after nidan asked for it.
        let again = prompt.split_ascii_whitespace().any(|p| p == "login") && signed_after.is_none();
        let weak = wants_two && !user.two_step();
        if again || stale || (weak && user.two_step_on) {
            if prompt.split_ascii_whitespace().any(|p| p == "none") {
                return fail("login_required", "a new sign-in is needed");
            }
            return Ok(AuthorizeStep::SignIn {
                login_after: Some(self.login_after_mac(now, &client.id)),
            });
        }
        if weak {
            if prompt.split_ascii_whitespace().any(|p| p == "none") {
                return fail("interaction_required", "two-step verification is needed");
            }
            return Ok(AuthorizeStep::TwoStepNeeded);
        }
        // An app that is not the operator's own asks the user, unless they allowed it all this
        // before (and `prompt=consent` does not ask again anyway).
        let remembered = self
            .store_ref()
            .oidc_app(&user.user_id, &client.id)
            .await?
            .filter(|a| a.consented_at.is_some())
            .is_some_and(|a| {
                scopes
                    .iter()
                    .all(|s| a.scope.split(' ').any(|allowed| allowed == *s))
            });
        let ask_again = prompt.split_ascii_whitespace().any(|p| p == "consent");
        if !client.first_party && !consented && (!remembered || ask_again) {
            if prompt.split_ascii_whitespace().any(|p| p == "none") {
                return fail("consent_required", "the user has not allowed this app");
            }
            return Ok(AuthorizeStep::Consent {
                client_id: client.id,
                scopes,
            });
        }
        let code = self.new_token(prefix::CODE);
        self.store_ref()
            .create_auth_code(AuthCode {
                digest: code.digest(),
                client_id: client.id.clone(),
                user_id: user.user_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: challenge,
                nonce: req.nonce.clone(),
                scope: scopes.join(" "),
                auth_time: user.auth_time,
                second_step: user.second_step,
                created_at: now,
                expires_at: now + CODE_TTL_SECS,
            })
            .await?;
        self.store_ref()
            .record_oidc_app(
                &user.user_id,
                OidcApp {
                    client_id: client.id.clone(),
                    scope: scopes.join(" "),
                    consented_at: consented.then_some(now),
                    last_used_at: now,
                },
            )
            .await?;
        if consented {
            // Allowing an app to use the account is a change to it: in its history.
            self.record(
                &user.user_id,
                "app_allowed",
                None,
                "success",
                from,
                Some(format!("{} ({})", client.id, scopes.join(" "))),
            )
            .await;
        }
        let mut params = vec![("code", code.expose())];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        let iss = self.inner.policy.public_url.clone();
        params.push(("iss", &iss));
        Ok(AuthorizeStep::Redirect(with_query(
            &req.redirect_uri,
            &params,
        )))
    }

    /// The user said no on the consent page: `access_denied` back to the client (after the same
    /// checks of the client and its redirect URI as [`Service::authorize`]).
    pub async fn consent_refused(&self, req: &AuthorizeRequest) -> ServiceResult<AuthorizeStep> {
        if let Err(refusal) = self.registered(req).await? {
            return Ok(refusal);
        }
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "the user did not allow this app"),
        ];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        Ok(AuthorizeStep::Redirect(with_query(
            &req.redirect_uri,
            &params,
        )))
    }

    /// The client behind a token or revocation request, authenticated.
    async fn client_for(&self, creds: &ClientCredentials) -> Result<OidcClient, OAuthError> {
        let bad = || oauth("invalid_client", "unknown client or wrong secret");
        let client = self
            .store_ref()
            .oidc_client(&creds.id)
            .await?
            .ok_or_else(bad)?;
        match (&client.secret_digest, &creds.secret) {
            (None, None) => Ok(client),
            (Some(stored), Some(given)) => {
                let ok: bool =
                    subtle::ConstantTimeEq::ct_eq(&token_digest(given)[..], &stored[..]).into();
                if ok { Ok(client) } else { Err(bad()) }
            }
            _ => Err(bad()),
        }
    }

    /// The token endpoint.
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        req: &TokenRequest,
    ) -> Result<Value, OAuthError> {
        let client = self.client_for(creds).await?;
        let now = self.now();
        match req.grant_type.as_str() {
            "authorization_code" => {
                let code = req
                    .code
                    .as_deref()
                    .ok_or_else(|| oauth("invalid_request", "code is missing"))?;
                let digest = token_digest(code);
                let found = match self
                    .store_ref()
                    .redeem_auth_code(&digest, &client.id, now)
                    .await?
                {
                    Redeemed::First(c) => c,
                    Redeemed::Again => {
                        tracing::warn!(client = %client.id, "an authorization code was used twice: its tokens are revoked");
                        return Err(oauth("invalid_grant", "the code was already used"));
                    }
                    Redeemed::Invalid => {
                        return Err(oauth("invalid_grant", "unknown or expired code"));
                    }
                };
                if req.redirect_uri.as_deref() != Some(found.redirect_uri.as_str()) {
                    return Err(oauth("invalid_grant", "redirect_uri does not match"));
                }
                match (&found.code_challenge, req.code_verifier.as_deref()) {
                    (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
                    (None, None) => {}
                    _ => {
                        return Err(oauth(
                            "invalid_grant",
                            "the PKCE code_verifier does not match",
                        ));
                    }
                }
                let family = code_family(&digest);
                let grant = Grant {
                    user: &found.user_id,
                    scope: &found.scope,
                    auth_time: found.auth_time,
                    second_step: found.second_step,
                    nonce: found.nonce.as_deref(),
                    family: &family,
                };
                self.issue(&client, &grant, now).await
            }
            "refresh_token" => {
                let token = req
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| oauth("invalid_request", "refresh_token is missing"))?;
                let digest = token_digest(token);
                let Some(old) = self.store_ref().oidc_token(&digest).await? else {
                    return Err(oauth("invalid_grant", "unknown refresh token"));
                };
                let grant = Grant {
                    user: &old.user_id,
                    scope: &old.scope,
                    auth_time: old.auth_time,
                    second_step: old.second_step,
                    nonce: None,
                    family: &old.family,
                };
                let (body, successors) = self.tokens_for(&client, &grant, now).await?;
                match self
                    .store_ref()
                    .rotate_refresh_token(&digest, &client.id, now, successors)
                    .await?
                {
                    Redeemed::First(_) => Ok(body),
                    Redeemed::Again => {
                        tracing::warn!(client = %client.id, "a refresh token was used twice: its family is revoked");
                        Err(oauth("invalid_grant", "the refresh token was already used"))
                    }
                    Redeemed::Invalid => {
                        Err(oauth("invalid_grant", "unknown or expired refresh token"))
                    }
                }
            }
            "" => Err(oauth("invalid_request", "grant_type is missing")),
            _ => Err(oauth(
                "unsupported_grant_type",
                "only authorization_code and refresh_token",
            )),
        }
    }

    /// Issues and stores the tokens of a grant.
    async fn issue(
        &self,
        client: &OidcClient,
        grant: &Grant<'_>,
        now: UnixTime,
    ) -> Result<Value, OAuthError> {
        let (body, tokens) = self.tokens_for(client, grant, now).await?;
        self.store_ref().issue_oidc_tokens(tokens).await?;
        Ok(body)
    }

    /// The answer of a grant and the tokens to store with it.
    async fn tokens_for(
        &self,
        client: &OidcClient,
        grant: &Grant<'_>,
        now: UnixTime,
    ) -> Result<(Value, Vec<OidcToken>), OAuthError> {
        let Grant {
            user: user_id,
            scope,
            auth_time,
            second_step,
            nonce,
            family,
        } = *grant;
        let user = self
            .store_ref()
            .user_by_id(user_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| oauth("invalid_grant", "the account is gone or disabled"))?;
        let access = self.new_token(prefix::ACCESS);
        let record = |digest, kind, ttl| OidcToken {
            digest,
            kind,
            client_id: client.id.clone(),
            user_id: user_id.clone(),
            scope: scope.to_owned(),
            family: family.to_owned(),
            auth_time,
            second_step,
            created_at: now,
            expires_at: now + ttl,
        };
        let mut tokens = vec![record(access.digest(), TokenKind::Access, ACCESS_TTL_SECS)];
        let mut body = json!({
            "access_token": access.expose(),
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_SECS,
            "scope": scope,
        });
        if scope.split(' ').any(|s| s == "offline_access") {
            let refresh = self.new_token(prefix::REFRESH);
            tokens.push(record(
                refresh.digest(),
                TokenKind::Refresh,
                REFRESH_TTL_SECS,
            ));
            body["refresh_token"] = json!(refresh.expose());
        }
        if scope.split(' ').any(|s| s == "openid") {
            let mut claims = self.user_claims(&user, scope).await?;
            let iss = &self.inner.policy.public_url;
            claims["iss"] = json!(iss);
            claims["aud"] = json!(client.id);
            claims["azp"] = json!(client.id);
            claims["iat"] = json!(now);
            claims["exp"] = json!(now + ID_TOKEN_TTL_SECS);
            claims["auth_time"] = json!(auth_time);
            claims["amr"] = json!(amr(second_step));
            claims["acr"] = json!(acr(second_step));
            if let Some(n) = nonce {
                claims["nonce"] = json!(n);
            }
            let signers = self.signers().await?;
            let signer = if client.id_token_alg == "EdDSA" {
                &signers.eddsa
            } else {
                &signers.rs256
            };
            body["id_token"] = json!(signer.sign(&claims)?);
        }
        Ok((body, tokens))
    }

    /// The claims about a user that `scope` allows.
    async fn user_claims(
        &self,
        user: &crate::ports::UserRecord,
        scope: &str,
    ) -> ServiceResult<Value> {
        let has = |s: &str| scope.split(' ').any(|x| x == s);
        let mut claims = json!({ "sub": user.id.as_str() });
        if has("email") {
            claims["email"] = json!(user.email);
            // The sign-in address is confirmed by the sign-in itself (reset links and notices
            // go to it).
            claims["email_verified"] = json!(true);
        }
        if has("profile") {
            let name = user.email.split('@').next().unwrap_or_default();
            claims["name"] = json!(name);
            claims["preferred_username"] = json!(user.email);
        }
        if has("groups") {
            claims["groups"] = json!(self.store_ref().groups(&user.id).await?);
        }
        Ok(claims)
    }

    /// The userinfo endpoint: the claims of the access token's scope.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, OAuthError> {
        let invalid = || oauth("invalid_token", "unknown, expired or revoked access token");
        let token = self
            .store_ref()
            .oidc_token(&token_digest(access_token))
            .await?
            .filter(|t| t.kind == TokenKind::Access && t.expires_at > self.now())
            .ok_or_else(invalid)?;
        let user = self
            .store_ref()
            .user_by_id(&token.user_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(invalid)?;
        Ok(self.user_claims(&user, &token.scope).await?)
    }

    /// The revocation endpoint (RFC 7009): revokes the token if it is the client's; unknown
    /// tokens are not an error.
    pub async fn revoke(&self, creds: &ClientCredentials, token: &str) -> Result<(), OAuthError> {
        let client = self.client_for(creds).await?;
        self.store_ref()
            .revoke_oidc_token(&token_digest(token), &client.id)
            .await?;
        Ok(())
    }
}

impl Service {
    /// The apps the signed-in user signed in to with nidan.
    pub async fn oidc_apps(
        &self,
        auth: &crate::session::AuthContext,
    ) -> ServiceResult<Vec<OidcApp>> {
        Ok(self.store_ref().oidc_apps(&auth.user_id).await?)
    }

    /// Takes an app's access away: its tokens for this user stop working at once, and it asks
    /// again next time. A session is enough (it only takes trust away).
    pub async fn remove_oidc_app(
        &self,
        auth: &crate::session::AuthContext,
        client: &str,
        from: &crate::ClientInfo,
    ) -> ServiceResult<()> {
        if !self
            .store_ref()
            .remove_oidc_app(&auth.user_id, client)
            .await?
        {
            return Err(ServiceError::NotFound("no such app"));
        }
        self.record(
            &auth.user_id,
            "app_removed",
            None,
            "success",
            from,
            Some(crate::signin::clip(client, 64)),
        )
        .await;
        Ok(())
    }
}
