//! Sign-in challenges, sessions, remembered devices and the activity history.

use nidan_service::ports::{
    ActivityRecord, ChallengeRecord, DeviceRecord, NewSession, SessionRecord,
};
use nidan_service::{DeviceId, SessionId, UserId};

use super::check::insert_session;
use crate::db::{Conn, DbError, Step};
use crate::records;
use crate::{args, sql};

pub(crate) async fn create_challenge<C: Conn>(
    c: &mut C,
    ch: &ChallengeRecord,
) -> Result<(), DbError> {
    c.exec(
        sql!("INSERT INTO challenges (digest, user_id, created_at, expires_at, attempts, consumed_at, ip, user_agent) VALUES ($1, $2, $3, $4, 0, NULL, $5, $6)"),
        args![&ch.digest, ch.user_id.as_str(), ch.created_at, ch.expires_at, &ch.ip, &ch.user_agent],
    )
    .await
    .map(drop)
}

pub(crate) async fn challenge_by_digest<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<ChallengeRecord>, DbError> {
    c.row(
        sql!("SELECT * FROM challenges WHERE digest = $1"),
        args![digest],
        &records::challenge,
    )
    .await
}

/// Challenges created before `cutoff` that never produced a session and were not reported.
pub(crate) async fn unfinished_challenges<C: Conn>(
    c: &mut C,
    cutoff: i64,
    limit: u32,
) -> Result<Vec<ChallengeRecord>, DbError> {
    c.rows(
        sql!("SELECT * FROM challenges WHERE created_at <= $1 AND consumed_at IS NULL AND reported_at IS NULL ORDER BY created_at LIMIT $2"),
        args![cutoff, i64::from(limit)],
        &records::challenge,
    )
    .await
}

pub(crate) async fn mark_challenge_reported<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
    now: i64,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE challenges SET reported_at = $1 WHERE digest = $2"),
        args![now, digest],
    )
    .await
    .map(drop)
}

pub(crate) async fn session_by_digest<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<SessionRecord>, DbError> {
    c.row(
        sql!("SELECT * FROM sessions WHERE digest = $1"),
        args![digest],
        &records::session,
    )
    .await
}

pub(crate) async fn touch_session<C: Conn>(
    c: &mut C,
    id: &SessionId,
    now: i64,
) -> Result<(), DbError> {
    c.exec(
        sql!("UPDATE sessions SET last_seen_at = $1 WHERE id = $2"),
        args![now, id.as_str()],
    )
    .await
    .map(drop)
}

pub(crate) async fn list_sessions<C: Conn>(
    c: &mut C,
    user: &UserId,
) -> Result<Vec<SessionRecord>, DbError> {
    c.rows(
        sql!("SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id"),
        args![user.as_str()],
        &records::session,
    )
    .await
}

pub(crate) async fn delete_session<C: Conn>(
    c: &mut C,
    user: &UserId,
    id: &SessionId,
) -> Result<bool, DbError> {
    let n = c
        .exec(
            sql!("DELETE FROM sessions WHERE id = $1 AND user_id = $2"),
            args![id.as_str(), user.as_str()],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn device_by_digest<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<DeviceRecord>, DbError> {
    c.row(
        sql!("SELECT * FROM devices WHERE digest = $1"),
        args![digest],
        &records::device,
    )
    .await
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

pub(crate) async fn list_devices<C: Conn>(
    c: &mut C,
    user: &UserId,
) -> Result<Vec<DeviceRecord>, DbError> {
    c.rows(
        sql!("SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at DESC, id"),
        args![user.as_str()],
        &records::device,
    )
    .await
}

pub(crate) async fn delete_device<C: Conn>(
    c: &mut C,
    user: &UserId,
    id: &DeviceId,
) -> Result<bool, DbError> {
    let n = c
        .exec(
            sql!("DELETE FROM devices WHERE id = $1 AND user_id = $2"),
            args![id.as_str(), user.as_str()],
        )
        .await?;
    Ok(n == 1)
}

/// The user's history, newest first, `limit` lines older than the cursor `before`.
pub(crate) async fn list_activity<C: Conn>(
    c: &mut C,
    user: &UserId,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<ActivityRecord>, DbError> {
    c.rows(
        sql!("SELECT * FROM activity WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"),
        args![user.as_str(), before.unwrap_or(i64::MAX), i64::from(limit)],
        &records::activity,
    )
    .await
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
