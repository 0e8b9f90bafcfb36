//! The durable queue of security notices, and the sweep of what has expired.
//!
//! Claiming due notices differs by backend (several PostgreSQL nodes lease what they take), so
//! `due_notices` is each backend's own; the rest is here.

use nidan_service::ports::NewNotice;

use crate::db::{Conn, DbError};
use crate::{args, sql, statements};

pub(crate) async fn enqueue_notice<C: Conn>(c: &mut C, n: &NewNotice) -> Result<(), DbError> {
    // A notice with its own address outlives the account (it is the last one of a deleted account).
    let (user, email, locale) = match &n.to {
        Some((email, locale)) => (None, Some(email.as_str()), Some(locale.as_str())),
        None => (Some(n.user_id.as_str()), None, None),
    };
    c.exec(
        sql!("INSERT INTO notices (user_id, email, locale, kind, at, ip, user_agent, country, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $5)"),
        args![user, email, locale, &n.kind, n.at, &n.ip, &n.user_agent, &n.country],
    )
    .await
    .map(drop)
}

statements! {
    notice_sent(id: i64, now: i64) -> () =
        done "UPDATE notices SET sent_at = $1, attempts = attempts + 1 WHERE id = $2"
        [now, id];
}

/// A failed try: retried at `retry_at`, or given up on.
pub(crate) async fn notice_failed<C: Conn>(
    c: &mut C,
    id: i64,
    retry_at: Option<i64>,
    error: &str,
) -> Result<(), DbError> {
    match retry_at {
        Some(at) => c.exec(
            sql!("UPDATE notices SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3"),
            args![at, error, id],
        )
        .await,
        None => c.exec(
            sql!("UPDATE notices SET attempts = attempts + 1, failed_at = next_attempt_at, last_error = $1 WHERE id = $2"),
            args![error, id],
        )
        .await,
    }
    .map(drop)
}

/// Deletes expired challenges, old codes, expired devices and old finished notices; answers
/// the rows removed. Challenges are kept until reported (or consumed), so the unfinished
/// sign-in notice cannot be lost to the sweep.
pub(crate) async fn purge_expired<C: Conn>(c: &mut C, before: i64) -> Result<u64, DbError> {
    let mut n = 0;
    for statement in [
        sql!(
            "DELETE FROM challenges WHERE expires_at < $1 AND (consumed_at IS NOT NULL OR reported_at IS NOT NULL)"
        ),
        sql!("DELETE FROM oob_codes WHERE created_at < $1 - 86400"),
        sql!("DELETE FROM devices WHERE expires_at < $1"),
        sql!(
            "DELETE FROM notices WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND at < $1 - 30 * 86400"
        ),
    ] {
        n += c.exec(statement, args![before]).await?;
    }
    Ok(n)
}
