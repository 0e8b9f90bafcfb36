//! The sending limits of `issue_code`: one statement counts what each limit counts, and one
//! pure function says which limit, if any, refuses the code; both run inside the transaction
//! that then stores the code.

use nidan_service::courier::Channel;
use nidan_service::ports::{CodeBinding, Issued, OobCode, SendCap, SendLimits};

/// 15 minutes: the window of the per-account limit.
pub(crate) const ACCOUNT_WINDOW: i64 = 15 * 60;
/// 24 hours: the window of the per-destination and unconfirmed-per-account limits.
pub(crate) const DAY: i64 = 24 * 3600;
/// One hour: the window of the per-client and overall limits on unconfirmed destinations.
pub(crate) const HOUR: i64 = 3600;

/// One row per limit: (which, sends in its window, the oldest of them). Parameters: user, the
/// three window starts (15 minutes, a day, an hour ago), destination, client, channel.
pub(crate) const COUNTS: crate::db::Sql = crate::sql!(
    "SELECT 1, COUNT(*), MIN(created_at) FROM oob_codes WHERE user_id = $1 AND created_at > $2
     UNION ALL SELECT 2, COUNT(*), MIN(created_at) FROM oob_codes WHERE user_id = $1 AND destination = $5 AND created_at > $3
     UNION ALL SELECT 3, COUNT(*), MIN(created_at) FROM oob_codes WHERE user_id = $1 AND binding_kind = 'enrolment' AND created_at > $3
     UNION ALL SELECT 4, COUNT(*), MIN(created_at) FROM oob_codes WHERE client = $6 AND binding_kind = 'enrolment' AND created_at > $4
     UNION ALL SELECT 5, COUNT(*), MIN(created_at) FROM oob_codes WHERE channel = $7 AND binding_kind = 'enrolment' AND created_at > $4"
);

/// The lock that queues up sends to destinations not yet confirmed on `channel` (the
/// per-client and overall caps span accounts).
pub(crate) fn unconfirmed_lock(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "unconfirmed-sends-email",
        Channel::Sms => "unconfirmed-sends-sms",
    }
}

/// Whether a code goes to a destination not yet confirmed (a setup names its own destination).
pub(crate) fn unconfirmed(code: &OobCode) -> bool {
    matches!(
        code.binding,
        CodeBinding::Enrolment(_) | CodeBinding::NewEmail(_)
    )
}

/// The limit that refuses `code`, given the rows of [`COUNTS`] as (which, count, oldest).
pub(crate) fn refusal(
    code: &OobCode,
    limits: &SendLimits,
    rows: &[(i64, i64, Option<i64>)],
) -> Option<Issued> {
    let now = code.created_at;
    let global = match code.channel {
        Channel::Sms => limits.unconfirmed_sms_per_hour,
        Channel::Email => limits.unconfirmed_email_per_hour,
    };
    let unconfirmed = unconfirmed(code);
    // A table: each cap in the order of `COUNTS`' rows, its limit, its window, whether it applies.
    #[rustfmt::skip]
    let caps = [
        (SendCap::Account, limits.per_account_per_15min, ACCOUNT_WINDOW, true),
        (SendCap::Destination, limits.per_destination_per_day, DAY, true),
        (SendCap::UnconfirmedAccount, limits.unconfirmed_per_account_per_day, DAY, unconfirmed),
        (SendCap::UnconfirmedClient, limits.unconfirmed_per_client_per_hour, HOUR,
            unconfirmed && code.client.is_some()),
        (SendCap::UnconfirmedGlobal, global, HOUR, unconfirmed),
    ];
    (1..)
        .zip(caps)
        .find_map(|(which, (cap, limit, window, applies))| {
            let (_, count, oldest) = rows.iter().find(|(w, ..)| *w == which)?;
            (applies && *count >= i64::from(limit)).then(|| Issued::TooSoon {
                retry_after: (oldest.unwrap_or(now) + window - now).max(1) as u64,
                cap,
            })
        })
}
