//! What a signed-in user reads and ends: the account, sessions, remembered devices, activity.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use nidan_service::{DeviceId, SessionId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rfc3339;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Client, Session};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/sessions", get(sessions))
        .route("/api/v1/me/sessions/{id}", delete(end_session))
        .route("/api/v1/me/devices", get(devices).delete(forget_devices))
        .route("/api/v1/me/devices/{id}", delete(forget_device))
        .route("/api/v1/me/activity", get(activity))
        .route("/api/v1/me/apps", get(apps))
        .route("/api/v1/me/apps/{client_id}", delete(remove_app))
}

/// An enrolled method.
#[derive(Serialize, ToSchema)]
pub struct MethodBody {
    /// `totp` (later also `sms`, `email`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it was enrolled.
    pub created_at: String,
    /// Where codes go, masked (`sms` and `email` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Two-step verification of the account.
#[derive(Serialize, ToSchema)]
pub struct TwoStepBody {
    /// `none` (nothing enrolled), `on`, or `off` (enrolled, temporarily off).
    pub state: &'static str,
    /// Enrolled methods.
    pub methods: Vec<MethodBody>,
    /// Offered first at sign-in.
    pub default_method: Option<&'static str>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// With `off` for a while: when it turns back on by itself (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_until: Option<String>,
}

/// `GET /api/v1/me`.
#[derive(Serialize, ToSchema)]
pub struct MeBody {
    /// Id.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// Two-step verification.
    pub two_step: TwoStepBody,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("session" = [])),
    responses((status = 200, body = MeBody), (status = 401, body = ErrorBody)))]
async fn me(State(app): State<AppState>, Session(auth): Session) -> Result<Json<MeBody>, ApiError> {
    let me = app.service.me(&auth).await?;
    Ok(Json(MeBody {
        id: me.id.to_string(),
        email: me.email,
        two_step: TwoStepBody {
            state: me.two_step.state.as_str(),
            methods: me
                .two_step
                .methods
                .iter()
                .map(|m| MethodBody {
                    kind: m.method.as_str(),
                    created_at: rfc3339(m.created_at),
                    hint: m.hint.clone(),
                })
                .collect(),
            default_method: me.two_step.default_method.map(|m| m.as_str()),
            recovery_codes_left: me.two_step.recovery_codes_left,
            off_until: me.two_step.off_until.map(crate::routes::rfc3339),
        },
    }))
}

/// A signed-in session.
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    /// Id (to end it).
    pub id: String,
    /// Sign-in time.
    pub created_at: String,
    /// Last request (to the minute).
    pub last_seen_at: String,
    /// Address at sign-in.
    pub ip: String,
    /// User agent at sign-in.
    pub user_agent: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("session" = [])),
    responses((status = 200, body = [SessionBody]), (status = 401, body = ErrorBody)))]
async fn sessions(
    State(app): State<AppState>,
    Session(auth): Session,
) -> Result<Json<Vec<SessionBody>>, ApiError> {
    let list = app.service.sessions(&auth).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionBody {
                current: s.id == auth.session_id,
                id: s.id.to_string(),
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", security(("session" = [])), params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "ended"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn end_session(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(id)?;
    app.service
        .end_session(&auth, &SessionId::new(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An id from the path; one that is not even text names nothing (404, in the API's format).
pub(crate) fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such id"))
}

/// A remembered device.
#[derive(Serialize, ToSchema)]
pub struct DeviceBody {
    /// Id (to forget it).
    pub id: String,
    /// A label from its user agent.
    pub name: String,
    /// When it was remembered.
    pub created_at: String,
    /// When it last skipped a second step.
    pub last_used_at: Option<String>,
    /// Address it was last used from.
    pub last_ip: String,
    /// When it stops working.
    pub expires_at: String,
}

#[utoipa::path(get, path = "/api/v1/me/devices", tag = "me", security(("session" = [])),
    responses((status = 200, body = [DeviceBody]), (status = 401, body = ErrorBody)))]
async fn devices(
    State(app): State<AppState>,
    Session(auth): Session,
) -> Result<Json<Vec<DeviceBody>>, ApiError> {
    let list = app.service.devices(&auth).await?;
    Ok(Json(
        list.into_iter()
            .map(|d| DeviceBody {
                id: d.id.to_string(),
                name: d.name,
                created_at: rfc3339(d.created_at),
                last_used_at: d.last_used_at.map(rfc3339),
                last_ip: d.last_ip,
                expires_at: rfc3339(d.expires_at),
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/me/devices/{id}", tag = "me", security(("session" = [])), params(("id" = String, Path, description = "device id")),
    responses((status = 204, description = "forgotten"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn forget_device(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(id)?;
    app.service
        .forget_device(&auth, &DeviceId::new(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/me/devices", tag = "me", security(("session" = [])),
    responses((status = 204, description = "every device forgotten"), (status = 401, body = ErrorBody)))]
async fn forget_devices(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
) -> Result<StatusCode, ApiError> {
    app.service.forget_devices(&auth, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging through the history.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Events per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next` value of the previous page.
    pub before: Option<i64>,
}

/// One event of the history.
#[derive(Serialize, ToSchema)]
pub struct EventBody {
    /// Id (also the paging cursor).
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// `sign_in`, `second_step`, `sign_out`, `method_added`, `method_removed`, `two_step_on`,
    /// `two_step_off`, `two_step_removed`, `recovery_codes_created`, `recovery_code_used`,
    /// `device_remembered`, `device_revoked`, `session_ended`, `step_up`, `totp_confirm`,
    /// `method_confirm`, `code_sent`, `app_verify`, `support_reset`.
    pub kind: String,
    /// The method involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `success`, `wrong_password`, `second_factor_required`, `invalid_code`, `replayed`,
    /// `throttled`, …
    pub result: String,
    /// Client address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// Extra words: codes left, the app's name, a support reset's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Country of the client address (ISO 3166-1 alpha-2, or `unknown`); absent when the server
    /// has no country database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A page of history.
#[derive(Serialize, ToSchema)]
pub struct ActivityBody {
    /// Newest first.
    pub events: Vec<EventBody>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/me/activity", tag = "me", security(("session" = [])), params(ActivityQuery),
    responses((status = 200, body = ActivityBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn activity(
    State(app): State<AppState>,
    Session(auth): Session,
    query: Result<Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ActivityBody>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 200"));
    }
    let events = app.service.activity(&auth, limit, q.before).await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(Json(ActivityBody {
        events: events
            .into_iter()
            .map(|e| EventBody {
                id: e.id,
                at: rfc3339(e.at),
                kind: e.kind,
                method: e.method,
                result: e.result,
                ip: e.ip,
                user_agent: e.user_agent,
                detail: e.detail,
                country: e.country,
            })
            .collect(),
        next,
    }))
}

/// An app the user signed in to with nidan (OpenID Connect).
#[derive(Serialize, ToSchema)]
pub struct AppBody {
    /// The app's client id (to remove it).
    pub client_id: String,
    /// What it may have: `openid`, `email`, `profile`, `groups`, `offline_access`.
    pub scopes: Vec<String>,
    /// When the user allowed it (absent for the operator's own apps, which do not ask).
    pub allowed_at: Option<String>,
    /// When it last signed the user in.
    pub last_used_at: String,
}

#[utoipa::path(get, path = "/api/v1/me/apps", tag = "me", security(("session" = [])),
    responses((status = 200, body = [AppBody]), (status = 401, body = ErrorBody)))]
async fn apps(
    State(app): State<AppState>,
    Session(auth): Session,
) -> Result<Json<Vec<AppBody>>, ApiError> {
    let list = app.service.oidc_apps(&auth).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| AppBody {
                client_id: a.client_id,
                scopes: a.scope.split(' ').map(str::to_owned).collect(),
                allowed_at: a.consented_at.map(rfc3339),
                last_used_at: rfc3339(a.last_used_at),
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/me/apps/{client_id}", tag = "me", security(("session" = [])), params(("client_id" = String, Path, description = "the app's client id")),
    responses((status = 204, description = "its tokens revoked; it asks again next time"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_app(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(id)?;
    app.service.remove_oidc_app(&auth, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
