//! The OpenID Connect provider's machine endpoints: discovery, JWKS, token, userinfo and
//! revocation (the browser's authorize step is a page: `pages/oidc.rs`). Errors are OAuth's
//! (RFC 6749 §5.2: `{"error", "error_description"}`), not the JSON API's, because that is what
//! client libraries read.

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use nidan_service::oidc::{ClientCredentials, OAuthError, TokenRequest};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/token", post(token))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/revoke", post(revoke))
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "openid-connect",
    responses((status = 200, description = "OpenID Connect discovery (OpenID Connect Discovery 1.0)", body = Object)))]
async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.service.openid_configuration())
}

#[utoipa::path(get, path = "/oauth2/jwks", tag = "openid-connect",
    responses((status = 200, description = "the public keys that sign ID tokens (RFC 7517), current and recently replaced", body = Object),
        (status = 500, description = "the keys could not be read", body = crate::error::ErrorBody)))]
async fn jwks(State(state): State<AppState>) -> Response {
    match state.service.jwks().await {
        Ok(keys) => Json(keys).into_response(),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

/// An OAuth error answer: 401 with a challenge for a client that failed to authenticate, 400
/// otherwise (500 for the server's own failure).
fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "invalid_token" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (
        status,
        Json(json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    let challenge = match e.error {
        "invalid_client" => Some("Basic realm=\"nidan\""),
        "invalid_token" => Some("Bearer error=\"invalid_token\""),
        _ => None,
    };
    if let Some(c) = challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
    }
    response
}

/// The form fields of the token and revocation endpoints (others are ignored, as OAuth asks).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The form, or OAuth's `invalid_request` for a body that is not one (what client libraries
/// read, rather than a bare 415).
fn form_of(form: Result<Form<TokenForm>, FormRejection>) -> Result<TokenForm, OAuthError> {
    form.map(|Form(f)| f).map_err(|e| OAuthError {
        error: "invalid_request",
        description: format!("send the parameters as application/x-www-form-urlencoded: {e}"),
    })
}

/// The client's credentials: HTTP Basic (`client_secret_basic`, each part form-encoded, RFC 6749
/// §2.3.1), else the form's (`client_secret_post`, or a public client's `client_id` alone).
fn credentials(headers: &HeaderMap, form: &TokenForm) -> Result<ClientCredentials, OAuthError> {
    let bad = || OAuthError {
        error: "invalid_client",
        description: "client authentication is missing or malformed".into(),
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| bad())?;
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .ok_or_else(bad)?;
        let decoded = data_encoding::BASE64
            .decode(encoded.trim().as_bytes())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let unform = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Ok(ClientCredentials {
            id: unform(id),
            secret: Some(unform(secret)),
        });
    }
    Ok(ClientCredentials {
        id: form.client_id.clone().ok_or_else(bad)?,
        secret: form.client_secret.clone(),
    })
}

#[utoipa::path(post, path = "/oauth2/token", tag = "openid-connect",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`access_token` (opaque), `id_token` (JWT), `refresh_token` with scope offline_access, `expires_in`", body = Object),
        (status = 400, description = "`invalid_request`, `invalid_grant` (a used, expired or foreign code; a wrong redirect URI or PKCE verifier), `unsupported_grant_type`", body = Object),
        (status = 401, description = "`invalid_client`", body = Object)))]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = form_of(form).map_err(oauth_error)?;
    let creds = credentials(&headers, &form).map_err(oauth_error)?;
    let req = TokenRequest {
        grant_type: form.grant_type.clone(),
        code: form.code.clone(),
        redirect_uri: form.redirect_uri.clone(),
        code_verifier: form.code_verifier.clone(),
        refresh_token: form.refresh_token.clone(),
    };
    let body = state
        .service
        .token(&creds, &req)
        .await
        .map_err(oauth_error)?;
    Ok(Json(body).into_response())
}

#[utoipa::path(get, path = "/oauth2/userinfo", tag = "openid-connect", security(("oidc_access_token" = [])),
    responses((status = 200, description = "the claims the access token's scope allows: `sub`, `email`, `email_verified`, `name`, `preferred_username`, `groups`", body = Object),
        (status = 401, description = "`invalid_token`", body = Object)))]
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match state.service.userinfo(token.trim()).await {
        Ok(claims) => Json(claims).into_response(),
        Err(e) => oauth_error(e),
    }
}

#[utoipa::path(post, path = "/oauth2/revoke", tag = "openid-connect",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "revoked, or there was nothing to revoke (RFC 7009)"),
        (status = 400, description = "`invalid_request`: no token", body = Object),
        (status = 401, description = "`invalid_client`", body = Object)))]
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<StatusCode, Response> {
    let form = form_of(form).map_err(oauth_error)?;
    let creds = credentials(&headers, &form).map_err(oauth_error)?;
    let token = form.token.as_deref().ok_or_else(|| {
        oauth_error(OAuthError {
            error: "invalid_request",
            description: "token is missing".into(),
        })
    })?;
    state
        .service
        .revoke(&creds, token)
        .await
        .map_err(oauth_error)?;
    Ok(StatusCode::OK)
}
