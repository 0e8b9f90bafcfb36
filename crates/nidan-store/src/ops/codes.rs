//! Email addresses and phone numbers that receive codes, and the codes sent to them.
//!
//! `issue_code` checks the sending limits (`send_caps`) and stores the new code in one
//! transaction under the account's lock, and, for a destination not yet confirmed, a lock on
//! the channel's unconfirmed sends (so the per-client and overall caps hold across accounts and
//! nodes). The code it replaces dies in the same transaction and hands over its count of wrong
//! tries (a resend never resets it).

use nidan_service::courier::Channel;
use nidan_service::ports::{
    CodeBinding, FirstMethod, Issued, OobCode, OobMethod, SendCap, SendLimits,
};
use nidan_service::{CredentialId, UserId};

use super::credentials::{after_method_removed, method_confirmed};
use crate::db::{Conn, DbError, Step};
use crate::records::{self, binding_parts};
use crate::send_caps;
use crate::{args, sql, statements};

/// Stores a pending method, replacing the pending one of its channel (and killing codes sent
/// to it).
pub(crate) async fn put_pending_oob<C: Conn>(c: &mut C, m: &OobMethod) -> Result<(), DbError> {
    c.lock_user(m.user_id.as_str()).await?;
    let channel = m.channel.as_str();
    let old: Vec<String> = c
        .rows(
            sql!("SELECT id FROM oob_methods WHERE user_id = $1 AND channel = $2 AND confirmed_at IS NULL"),
            args![m.user_id.as_str(), channel],
            &|r| r.get(0),
        )
        .await?;
    for id in &old {
        c.exec(
            sql!("UPDATE oob_codes SET used_at = $1 WHERE binding_kind = 'enrolment' AND binding = $2 AND used_at IS NULL"),
            args![m.created_at, id],
        )
        .await?;
        c.exec(sql!("DELETE FROM oob_methods WHERE id = $1"), args![id])
            .await?;
    }
    c.exec(
        sql!("INSERT INTO oob_methods (id, user_id, channel, destination, confirmed_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)"),
        args![m.id.as_str(), m.user_id.as_str(), channel, &m.destination, m.created_at],
    )
    .await
    .map(drop)
}

statements! {
    /// The user's email and SMS methods, pending and confirmed.
    oob_methods(user: &UserId) -> Vec<OobMethod> =
        rows(records::oob_method) "SELECT * FROM oob_methods WHERE user_id = $1 ORDER BY created_at, id"
        [user.as_str()];
}

/// Confirms a pending method; a new number or address replaces the old one of its channel.
pub(crate) async fn activate_oob<C: Conn>(
    c: &mut C,
    user: &UserId,
    method: &CredentialId,
    now: i64,
    first: Option<&FirstMethod>,
) -> Result<Step<bool>, DbError> {
    c.lock_user(user.as_str()).await?;
    let channel: Option<String> = c
        .row(
            sql!("UPDATE oob_methods SET confirmed_at = $1 WHERE id = $2 AND user_id = $3 AND confirmed_at IS NULL RETURNING channel"),
            args![now, method.as_str(), user.as_str()],
            &|r| r.get(0),
        )
        .await?;
    let Some(channel) = channel else {
        return Ok(Step::Rollback(false));
    };
    c.exec(
        sql!("DELETE FROM oob_methods WHERE user_id = $1 AND channel = $2 AND id <> $3"),
        args![user.as_str(), &channel, method.as_str()],
    )
    .await?;
    method_confirmed(c, user, &channel, first, now).await?;
    Ok(Step::Commit(true))
}

/// Removes the method of a channel (pending and confirmed) and kills its codes.
pub(crate) async fn delete_oob<C: Conn>(
    c: &mut C,
    user: &UserId,
    channel: Channel,
) -> Result<(), DbError> {
    c.lock_user(user.as_str()).await?;
    let name = channel.as_str();
    c.exec(
        sql!("DELETE FROM oob_methods WHERE user_id = $1 AND channel = $2"),
        args![user.as_str(), name],
    )
    .await?;
    c.exec(
        sql!("UPDATE oob_codes SET used_at = COALESCE(used_at, created_at) WHERE user_id = $1 AND channel = $2"),
        args![user.as_str(), name],
    )
    .await?;
    after_method_removed(c, user, name).await
}

/// Checks the sending limits and stores the new code (see the module comment).
pub(crate) async fn issue_code<C: Conn>(
    c: &mut C,
    code: &OobCode,
    limits: &SendLimits,
) -> Result<Step<Issued>, DbError> {
    c.lock_user(code.user_id.as_str()).await?;
    if send_caps::unconfirmed(code) {
        c.lock_key(send_caps::unconfirmed_lock(code.channel))
            .await?;
    }
    let (kind, binding) = binding_parts(&code.binding);
    let now = code.created_at;
    let live: Option<(String, i64, i64)> = c
        .row(
            sql!("SELECT id, created_at, attempts FROM oob_codes WHERE binding_kind = $1 AND binding = $2 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1"),
            args![kind, &binding],
            &|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .await?;
    if let Some((_, sent_at, _)) = &live {
        let wait = sent_at + limits.min_interval_secs - now;
        if wait > 0 {
            return Ok(Step::Rollback(Issued::TooSoon {
                retry_after: wait as u64,
                cap: SendCap::Interval,
            }));
        }
    }
    use send_caps::{ACCOUNT_WINDOW, DAY, HOUR};
    let (user, channel) = (code.user_id.as_str(), code.channel.as_str());
    let since = [now - ACCOUNT_WINDOW, now - DAY, now - HOUR];
    let args = args![
        user,
        since[0],
        since[1],
        since[2],
        &code.destination,
        &code.client,
        channel
    ];
    let counts = c
        .rows(send_caps::COUNTS, args, &|r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .await?;
    if let Some(refused) = send_caps::refusal(code, limits, &counts) {
        return Ok(Step::Rollback(refused));
    }
    let mut attempts = i64::from(code.attempts);
    if let Some((old_id, _, old_attempts)) = live {
        attempts = attempts.max(old_attempts);
        c.exec(
            sql!("UPDATE oob_codes SET used_at = $1 WHERE id = $2"),
            args![now, &old_id],
        )
        .await?;
    }
    c.exec(
        sql!("INSERT INTO oob_codes (id, user_id, binding_kind, binding, channel, destination, digest, created_at, expires_at, attempts, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        args![
            &code.id,
            code.user_id.as_str(),
            kind,
            &binding,
            code.channel.as_str(),
            &code.destination,
            &code.digest,
            now,
            code.expires_at,
            attempts,
            &code.client
        ],
    )
    .await?;
    Ok(Step::Commit(Issued::Issued))
}

statements! {
    /// Forgets a code whose delivery failed, so the person can try again.
    discard_code(code_id: &str) -> () =
        done "DELETE FROM oob_codes WHERE id = $1"
        [code_id];
}

/// The newest code for a binding that is not used or replaced (it may be expired).
pub(crate) async fn live_code<C: Conn>(
    c: &mut C,
    user: &UserId,
    binding: &CodeBinding,
) -> Result<Option<OobCode>, DbError> {
    let (kind, value) = binding_parts(binding);
    c.row(
        sql!("SELECT * FROM oob_codes WHERE user_id = $1 AND binding_kind = $2 AND binding = $3 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1"),
        args![user.as_str(), kind, &value],
        &|r| records::oob_code(r, binding.clone()),
    )
    .await
}
