//! Forward-auth's question, asked by a reverse proxy about every request to every protected app
//! (pages, images, scripts): whose session is this, did it take a second step, and which groups
//! is its user in?
//!
//! It is the hottest path nidan has, so it does no password hashing and no write per request:
//! the session and what the access rules need of its user are read in one store read and kept in
//! memory for up to a second ([`crate::key_cache`]), so that an ended session (by sign-out on
//! another node, by an operator's command) is refused at most a second later, and one ended
//! through this process at once. The idle and absolute limits are checked on every call against
//! the clock; the idle timer is written at most once a minute.

use std::sync::Arc;
use std::time::Instant;

use nidan_domain::{SecondStep, token_digest};

use crate::error::{ServiceError, ServiceResult};
use crate::ports::SessionRecord;
use crate::{Service, SessionId, UnixTime, UserId};

/// The most sessions remembered at once.
pub(crate) const GATE_CACHE_MAX: usize = 65_536;

/// How often a session's idle timer is written (as for the pages and the API).
const TOUCH_EVERY_SECS: i64 = 60;

/// A signed-in user as the access rules see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateUser {
    /// The user.
    pub user_id: UserId,
    /// The session.
    pub session_id: SessionId,
    /// The sign-in email (lower case).
    pub email: String,
    /// Groups, sorted.
    pub groups: Vec<String>,
    /// The groups comma-separated, as the `Remote-Groups` header carries them.
    pub groups_header: String,
    /// The account has two-step verification on.
    pub two_step_on: bool,
    /// When the session's sign-in was.
    pub auth_time: UnixTime,
    /// What that sign-in proved beyond the password.
    pub second_step: Option<SecondStep>,
    created_at: UnixTime,
    last_seen_at: UnixTime,
}

impl GateUser {
    /// The session was made with the password and a second step (or a remembered device).
    pub fn two_step(&self) -> bool {
        self.second_step.is_some()
    }
}

impl Service {
    /// The user behind a session token, for forward-auth; `Unauthenticated` when the token is
    /// unknown, ended, idle too long, too old, or its account is disabled.
    pub async fn gate(&self, token: &str) -> ServiceResult<Arc<GateUser>> {
        let digest = token_digest(token);
        let now = self.now();
        let cache = &self.inner.gate;
        if let Some(found) = cache.get(&digest, Instant::now())
            && self.session_alive(found.created_at, found.last_seen_at, now)
            && now - found.last_seen_at < TOUCH_EVERY_SECS
        {
            return Ok(found);
        }
        let Some(record) = self.store_ref().gate_session(&digest).await? else {
            cache.forget(&digest);
            return Err(ServiceError::Unauthenticated);
        };
        let mut session = record.session;
        if record.disabled {
            cache.forget(&digest);
            return Err(ServiceError::Unauthenticated);
        }
        if let Err(e) = self.unless_over(&session, now).await {
            cache.forget(&digest);
            return Err(e);
        }
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            self.store_ref().touch_session(&session.id, now).await?;
            session.last_seen_at = now;
        }
        let user = Arc::new(GateUser {
            user_id: session.user_id,
            session_id: session.id,
            email: record.email,
            groups_header: record.groups.join(","),
            groups: record.groups,
            two_step_on: record.two_step_on,
            auth_time: session.created_at,
            second_step: session.second_step,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
        });
        cache.put(digest, Arc::clone(&user), Instant::now());
        Ok(user)
    }

    /// Whether a session created at `created` and last seen at `seen` is still within the idle
    /// and absolute limits at `now`.
    pub(crate) fn session_alive(&self, created: UnixTime, seen: UnixTime, now: UnixTime) -> bool {
        let policy = &self.inner.policy;
        now - seen < policy.session_idle_secs && now - created < policy.session_absolute_secs
    }

    /// `Unauthenticated`, and the session deleted, when it is past its idle or absolute limit
    /// at `now`.
    pub(crate) async fn unless_over(
        &self,
        session: &SessionRecord,
        now: UnixTime,
    ) -> ServiceResult<()> {
        if self.session_alive(session.created_at, session.last_seen_at, now) {
            return Ok(());
        }
        let _ = self
            .store_ref()
            .delete_session(&session.user_id, &session.id)
            .await;
        Err(ServiceError::Unauthenticated)
    }

    /// Forgets every session remembered for forward-auth (after one ended through this
    /// process: the next request asks the database).
    pub(crate) fn forget_gate_sessions(&self) {
        self.inner.gate.clear();
    }
}
