//! Signed-in sessions and what a signed-in user can read and end: the account view, sessions,
//! remembered devices and the activity history.
//!
//! A session ends after `session_idle_secs` without a request and `session_absolute_secs` after
//! sign-in, whichever comes first; both are checked on every request against server state.

use nidan_domain::{Method, TwoStepState, token_digest};

use crate::error::{ServiceError, ServiceResult};
use crate::ports::{ActivityRecord, DeviceRecord, SessionRecord};
use crate::{ClientInfo, DeviceId, Service, SessionId, UnixTime, UserId};

/// A request's verified identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    /// The signed-in user.
    pub user_id: UserId,
    /// The session the request came with.
    pub session_id: SessionId,
}

/// One enrolled method, with a hint that is safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodView {
    /// Which method.
    pub method: Method,
    /// When it was enrolled.
    pub created_at: UnixTime,
    /// Where codes go, masked (email and SMS); a security key's name.
    pub hint: Option<String>,
    /// A security key's id (to remove it).
    pub key: Option<crate::CredentialId>,
    /// When a security key last signed in.
    pub last_used: Option<UnixTime>,
}

/// The account's two-step verification, as the user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwoStepView {
    /// `none`, `on` or `off`.
    pub state: TwoStepState,
    /// Enrolled methods.
    pub methods: Vec<MethodView>,
    /// Offered first at sign-in.
    pub default_method: Option<Method>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// While off: when it turns back on by itself, if it does.
    pub off_until: Option<UnixTime>,
}

/// `GET /api/v1/me`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeView {
    /// Id.
    pub id: UserId,
    /// Sign-in email.
    pub email: String,
    /// Two-step verification.
    pub two_step: TwoStepView,
}

/// How often a session's idle timer is written: a request within this many seconds of the last
/// write does not write again (keeps reads cheap; the idle limit is minutes).
const TOUCH_EVERY_SECS: i64 = 60;

impl Service {
    /// Verifies a session token: known, not ended, not idle too long, not too old.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<AuthContext> {
        let session = self
            .store_ref()
            .session_by_digest(&token_digest(token))
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let now = self.now();
        self.unless_over(&session, now).await?;
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            self.store_ref().touch_session(&session.id, now).await?;
        }
        Ok(AuthContext {
            user_id: session.user_id,
            session_id: session.id,
        })
    }

    /// Ends the current session.
    pub async fn logout(&self, auth: &AuthContext, client: &ClientInfo) -> ServiceResult<()> {
        self.store_ref()
            .delete_session(&auth.user_id, &auth.session_id)
            .await?;
        self.forget_gate_sessions();
        self.record(&auth.user_id, "sign_out", None, "success", client, None)
            .await;
        Ok(())
    }

    pub(crate) fn two_step_state(enabled: bool, has_method: bool) -> TwoStepState {
        match (has_method, enabled) {
            (false, _) => TwoStepState::None,
            (true, true) => TwoStepState::On,
            (true, false) => TwoStepState::Off,
        }
    }

    /// The account and its two-step verification.
    pub async fn me(&self, auth: &AuthContext) -> ServiceResult<MeView> {
        let user = self
            .store_ref()
            .user_by_id(&auth.user_id)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let enrolment = self.enrolment(&user.id).await?;
        let mut methods = Vec::new();
        for key in self.store_ref().webauthn_keys(&user.id).await? {
            methods.push(MethodView {
                method: Method::Webauthn,
                created_at: key.created_at,
                hint: Some(key.name),
                key: Some(key.id),
                last_used: key.last_used_at,
            });
        }
        if let Some(t) = &enrolment.totp {
            methods.push(MethodView {
                method: Method::Totp,
                created_at: t.confirmed_at.unwrap_or(t.created_at),
                hint: None,
                key: None,
                last_used: None,
            });
        }
        for m in &enrolment.oob {
            methods.push(MethodView {
                method: crate::oob::method_of(m.channel),
                created_at: m.confirmed_at.unwrap_or(m.created_at),
                hint: Some(self.mask(m.channel, &m.destination)),
                key: None,
                last_used: None,
            });
        }
        let state = Self::two_step_state(user.two_step_enabled, enrolment.has_method());
        Ok(MeView {
            id: user.id,
            email: user.email,
            two_step: TwoStepView {
                state,
                methods,
                default_method: if enrolment.has_method() {
                    user.default_method
                } else {
                    None
                },
                recovery_codes_left: enrolment.recovery_codes_left,
                off_until: user
                    .two_step_off_until
                    .filter(|_| state == TwoStepState::Off),
            },
        })
    }

    /// The user's sessions, newest first.
    pub async fn sessions(&self, auth: &AuthContext) -> ServiceResult<Vec<SessionRecord>> {
        Ok(self.store_ref().list_sessions(&auth.user_id).await?)
    }

    /// Ends one of the user's sessions.
    pub async fn end_session(
        &self,
        auth: &AuthContext,
        id: &SessionId,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        if !self.store_ref().delete_session(&auth.user_id, id).await? {
            return Err(ServiceError::NotFound("no such session"));
        }
        self.forget_gate_sessions();
        self.record(
            &auth.user_id,
            "session_ended",
            None,
            "success",
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// The user's remembered devices, newest first (expired ones are not shown).
    pub async fn devices(&self, auth: &AuthContext) -> ServiceResult<Vec<DeviceRecord>> {
        let now = self.now();
        Ok(self
            .store_ref()
            .list_devices(&auth.user_id)
            .await?
            .into_iter()
            .filter(|d| d.expires_at > now)
            .collect())
    }

    /// Forgets one remembered device.
    pub async fn forget_device(
        &self,
        auth: &AuthContext,
        id: &DeviceId,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        if !self.store_ref().delete_device(&auth.user_id, id).await? {
            return Err(ServiceError::NotFound("no such device"));
        }
        self.record(
            &auth.user_id,
            "device_revoked",
            None,
            "success",
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// Forgets every remembered device.
    pub async fn forget_devices(
        &self,
        auth: &AuthContext,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let n = self.store_ref().delete_devices(&auth.user_id).await?;
        self.record(
            &auth.user_id,
            "device_revoked",
            None,
            "success",
            client,
            Some(format!("{n} devices")),
        )
        .await;
        Ok(())
    }

    /// The user's history, newest first; `before` is the `id` of the last line already shown.
    pub async fn activity(
        &self,
        auth: &AuthContext,
        limit: u32,
        before: Option<i64>,
    ) -> ServiceResult<Vec<ActivityRecord>> {
        Ok(self
            .store_ref()
            .list_activity(&auth.user_id, limit.clamp(1, 200), before)
            .await?)
    }
}
