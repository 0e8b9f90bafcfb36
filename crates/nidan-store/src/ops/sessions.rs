//! Sign-in challenges, sessions, remembered devices and the activity history.

use nidan_service::ports::{
    ActivityRecord, ChallengeRecord, DeviceRecord, GateSession, NewSession, SessionRecord,
};
use nidan_service::{DeviceId, SessionId, UserId};

use super::check::insert_session;
use crate::db::{Conn, DbError, Step};
use crate::records;
use crate::{args, sql, statements};

statements! {
    create_challenge(ch: &ChallengeRecord) -> () =
        done "INSERT INTO challenges (digest, user_id, created_at, expires_at, attempts, consumed_at, ip, user_agent) VALUES ($1, $2, $3, $4, 0, NULL, $5, $6)"
        [&ch.digest, ch.user_id.as_str(), ch.created_at, ch.expires_at, &ch.ip, &ch.user_agent];

    challenge_by_digest(digest: &[u8; 32]) -> Option<ChallengeRecord> =
        row(records::challenge) "SELECT * FROM challenges WHERE digest = $1"
        [digest];

    /// Challenges created before `cutoff` that never produced a session and were not reported.
    unfinished_challenges(cutoff: i64, limit: u32) -> Vec<ChallengeRecord> =
        rows(records::challenge) "SELECT * FROM challenges WHERE created_at <= $1 AND consumed_at IS NULL AND reported_at IS NULL ORDER BY created_at LIMIT $2"
        [cutoff, i64::from(limit)];

    mark_challenge_reported(digest: &[u8; 32], now: i64) -> () =
        done "UPDATE challenges SET reported_at = $1 WHERE digest = $2"
        [now, digest];

    session_by_digest(digest: &[u8; 32]) -> Option<SessionRecord> =
        row(records::session) "SELECT * FROM sessions WHERE digest = $1"
        [digest];

    touch_session(id: &SessionId, now: i64) -> () =
        done "UPDATE sessions SET last_seen_at = $1 WHERE id = $2"
        [now, id.as_str()];

    list_sessions(user: &UserId) -> Vec<SessionRecord> =
        rows(records::session) "SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id"
        [user.as_str()];

    delete_session(user: &UserId, id: &SessionId) -> bool =
        one "DELETE FROM sessions WHERE id = $1 AND user_id = $2"
        [id.as_str(), user.as_str()];

    device_by_digest(digest: &[u8; 32]) -> Option<DeviceRecord> =
        row(records::device) "SELECT * FROM devices WHERE digest = $1"
        [digest];
}

/// A session and what forward-auth's rules need of its user: its account (one joined row),
/// then its groups.
pub(crate) async fn gate_session<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<GateSession>, DbError> {
    let found = c
        .row(
            sql!("SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.ip, s.user_agent, s.second_step, u.email, u.disabled_at, u.two_step_enabled FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = $1"),
            args![digest],
            &|r| {
                Ok(GateSession {
                    session: records::session(r)?,
                    email: r.get("email")?,
                    disabled: r.get::<Option<i64>>("disabled_at")?.is_some(),
                    two_step_on: r.get("two_step_enabled")?,
                    groups: Vec::new(),
                })
            },
        )
        .await?;
    let Some(mut found) = found else {
        return Ok(None);
    };
    found.groups = super::accounts::groups(c, &found.session.user_id).await?;
    Ok(Some(found))
}

/// Records a use of a device and creates the session it allowed. The device is checked again
/// here, not only by the caller's lookup: one forgotten, expired or belonging to someone else
/// since then must not produce a session.
pub(crate) async fn sign_in_with_device<C: Conn>(
    c: &mut C,
    device: &DeviceId,
    now: i64,
    ip: &str,
    session: &NewSession,
) -> Result<Step<bool>, DbError> {
    let used = c
        .exec(
            sql!("UPDATE devices SET last_used_at = $1, last_ip = $2 WHERE id = $3 AND user_id = $4 AND expires_at > $1"),
            args![now, ip, device.as_str(), session.record.user_id.as_str()],
        )
        .await?;
    if used != 1 {
        return Ok(Step::Rollback(false));
    }
    insert_session(c, session).await?;
    Ok(Step::Commit(true))
}

statements! {
    list_devices(user: &UserId) -> Vec<DeviceRecord> =
        rows(records::device) "SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at DESC, id"
        [user.as_str()];

    delete_device(user: &UserId, id: &DeviceId) -> bool =
        one "DELETE FROM devices WHERE id = $1 AND user_id = $2"
        [id.as_str(), user.as_str()];

    /// Every account's history in a time range, oldest first, with the account's email.
    activity_between(since: i64, until: i64, after: i64, limit: u32) -> Vec<(ActivityRecord, String)> =
        rows(|r| Ok((records::activity(r)?, r.get("email")?))) "SELECT a.*, u.email FROM activity a JOIN users u ON u.id = a.user_id WHERE a.at >= $1 AND a.at < $2 AND a.id > $3 ORDER BY a.id LIMIT $4"
        [since, until, after, i64::from(limit)];

    /// The user's history, newest first, `limit` lines older than the cursor `before`.
    list_activity(user: &UserId, limit: u32, before: Option<i64>) -> Vec<ActivityRecord> =
        rows(records::activity) "SELECT * FROM activity WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        [user.as_str(), before.unwrap_or(i64::MAX), i64::from(limit)];
}

/// Whether the user's history holds a line of `kind` with this `detail`.
pub(crate) async fn has_activity<C: Conn>(
    c: &mut C,
    user: &UserId,
    kind: &str,
    detail: &str,
) -> Result<bool, DbError> {
    c.row(
        sql!("SELECT 1 FROM activity WHERE user_id = $1 AND kind = $2 AND detail = $3 LIMIT 1"),
        args![user.as_str(), kind, detail],
        &|_| Ok(()),
    )
    .await
    .map(|found| found.is_some())
}
