//! The durable queue of security notices, and the sweep of what has expired.
//!
//! Claiming due notices differs by backend (several PostgreSQL nodes lease what they take), so
//! `due_notices` is each backend's own; the rest is here.

use nidan_service::ports::{NewNotice, Purge, WebhookCursor};

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

/// Notices neither sent nor given up on.
pub(crate) async fn pending_notices<C: Conn>(c: &mut C) -> Result<u64, DbError> {
    let n: i64 = c
        .row(
            sql!("SELECT COUNT(*) FROM notices WHERE sent_at IS NULL AND failed_at IS NULL"),
            args![],
            &|row| row.get(0),
        )
        .await?
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
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

/// One batch of the retention sweep: at most `batch` rows of each table, chosen by key, so each
/// statement stays short on SQLite's single writer and on PostgreSQL. Challenges are kept until
/// reported (or consumed) for a day after they expired, so the unfinished sign-in notice cannot
/// be lost to the sweep.
pub(crate) async fn purge<C: Conn>(c: &mut C, p: &Purge) -> Result<u64, DbError> {
    let n = i64::from(p.batch);
    let mut gone = 0;
    for (statement, before) in [
        (
            sql!(
                "DELETE FROM activity WHERE id IN (SELECT id FROM activity WHERE at < $1 LIMIT $2)"
            ),
            p.activity_before,
        ),
        (
            sql!(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE last_seen_at < $1 LIMIT $2)"
            ),
            p.sessions_seen_before,
        ),
        (
            sql!(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE created_at < $1 LIMIT $2)"
            ),
            p.sessions_started_before,
        ),
        (
            sql!(
                "DELETE FROM challenges WHERE digest IN (SELECT digest FROM challenges WHERE expires_at < $1 AND (consumed_at IS NOT NULL OR reported_at IS NOT NULL OR expires_at < $1 - 86400) LIMIT $2)"
            ),
            p.challenges_before,
        ),
        (
            sql!(
                "DELETE FROM oob_codes WHERE id IN (SELECT id FROM oob_codes WHERE created_at < $1 LIMIT $2)"
            ),
            p.codes_before,
        ),
        (
            sql!(
                "DELETE FROM password_resets WHERE digest IN (SELECT digest FROM password_resets WHERE expires_at < $1 LIMIT $2)"
            ),
            p.resets_before,
        ),
        (
            sql!(
                "DELETE FROM devices WHERE id IN (SELECT id FROM devices WHERE expires_at < $1 LIMIT $2)"
            ),
            p.devices_before,
        ),
        (
            sql!(
                "DELETE FROM webauthn_ceremonies WHERE binding IN (SELECT binding FROM webauthn_ceremonies WHERE expires_at < $1 LIMIT $2)"
            ),
            p.challenges_before,
        ),
        (
            sql!(
                "DELETE FROM oidc_codes WHERE digest IN (SELECT digest FROM oidc_codes WHERE expires_at < $1 LIMIT $2)"
            ),
            p.oidc_before,
        ),
        (
            sql!(
                "DELETE FROM oidc_tokens WHERE digest IN (SELECT digest FROM oidc_tokens WHERE expires_at < $1 LIMIT $2)"
            ),
            p.oidc_before,
        ),
        (
            sql!(
                "DELETE FROM notices WHERE id IN (SELECT id FROM notices WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND at < $1 LIMIT $2)"
            ),
            p.notices_before,
        ),
    ] {
        gone += c.exec(statement, args![before, n]).await?;
    }
    Ok(gone)
}

/// Where a webhook is; made, after the newest history line, when it is new. (`WHERE TRUE`:
/// SQLite would read `ON CONFLICT` after `FROM activity` as a join's `ON`.)
pub(crate) async fn webhook_cursor<C: Conn>(
    c: &mut C,
    name: &str,
) -> Result<WebhookCursor, DbError> {
    c.exec(
        sql!("INSERT INTO webhook_cursors (name, last_id, attempts, next_at) SELECT $1, COALESCE(MAX(id), 0), 0, 0 FROM activity WHERE TRUE ON CONFLICT (name) DO NOTHING"),
        args![name],
    )
    .await?;
    let found = c
        .row(
            sql!("SELECT last_id, attempts, next_at FROM webhook_cursors WHERE name = $1"),
            args![name],
            &|r| {
                Ok(WebhookCursor {
                    last_id: r.get(0)?,
                    attempts: r.get(1)?,
                    next_at: r.get(2)?,
                })
            },
        )
        .await?;
    found.ok_or_else(|| DbError::Data("a webhook cursor vanished".into()))
}

statements! {
    advance_webhook(name: &str, from: i64, to: i64) -> bool =
        one "UPDATE webhook_cursors SET last_id = $3, attempts = 0, next_at = 0, last_error = NULL WHERE name = $1 AND last_id = $2"
        [name, from, to];

    webhook_failed(name: &str, attempts: u32, next_at: i64, error: &str) -> () =
        done "UPDATE webhook_cursors SET attempts = $2, next_at = $3, last_error = $4 WHERE name = $1"
        [name, i64::from(attempts), next_at, error];
}
