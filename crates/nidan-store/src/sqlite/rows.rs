//! Turning SQLite rows into the service's records.

use nidan_domain::Method;
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::{
    ActivityRecord, ApiKeyRecord, ChallengeRecord, CodeBinding, DeviceRecord, OobCode, OobMethod,
    QueuedNotice, SessionRecord, TotpCredential, UserRecord,
};
use nidan_service::{ApiKeyId, CredentialId, DeviceId, SessionId, UserId};
use rusqlite::{Connection, OptionalExtension, Params, Row};

use super::engine::bad_data;

/// Runs a statement (prepared once per connection); returns the rows changed.
pub(crate) fn exec(c: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// The first row of a query, decoded, if there is one.
pub(crate) fn one<T>(
    c: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    c.prepare_cached(sql)?.query_row(params, decode).optional()
}

/// Every row of a query, decoded.
pub(crate) fn all<T>(
    c: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = c.prepare_cached(sql)?;
    let rows = statement.query_map(params, decode)?;
    rows.collect()
}

pub(crate) fn digest(bytes: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| bad_data("a stored digest is not 32 bytes"))
}

fn count(r: &Row<'_>, column: impl rusqlite::RowIndex) -> rusqlite::Result<u32> {
    Ok(r.get::<_, i64>(column)?.clamp(0, u32::MAX as i64) as u32)
}

fn method(text: Option<String>) -> Option<Method> {
    text.and_then(|t| t.parse().ok())
}

/// The columns [`user`] decodes, by position, from the start of a row: every query it decodes
/// selects exactly these first ([`user_columns!`] writes the list, [`select_user!`] uses it).
/// Positions, because finding a column by name compares it with every column name before it, for
/// each field, and the account read of every verification decodes a user (test
/// `user_queries_select_user_fields`).
pub(crate) const USER_FIELDS: [&str; 9] = [
    "id",
    "email",
    "password_hash",
    "two_step_enabled",
    "default_method",
    "failed_attempts",
    "last_failure_at",
    "locale",
    "created_at",
];

/// The column list of [`USER_FIELDS`], each name after `$table` (`""` or an alias like `"u."`).
macro_rules! user_columns {
    ($table:literal) => {
        $crate::sqlite::rows::user_columns!(@each $table; id, email, password_hash,
            two_step_enabled, default_method, failed_attempts, last_failure_at, locale, created_at)
    };
    (@each $table:literal; $first:ident $(, $column:ident)*) => {
        concat!($table, stringify!($first) $(, ", ", $table, stringify!($column))*)
    };
}
pub(crate) use user_columns;

/// `SELECT` of [`USER_FIELDS`] from `users`, then the rest of the statement.
macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "SELECT ",
            $crate::sqlite::rows::user_columns!(""),
            " FROM users ",
            $rest
        )
    };
}
pub(crate) use select_user;

/// A user from the first [`USER_FIELDS`].len() columns of a row.
pub(crate) fn user(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::new(r.get::<_, String>(0)?),
        email: r.get(1)?,
        password_hash: r.get(2)?,
        two_step_enabled: r.get::<_, i64>(3)? != 0,
        default_method: method(r.get(4)?),
        failed_attempts: count(r, 5)?,
        last_failure_at: r.get(6)?,
        locale: Locale::parse(&r.get::<_, String>(7)?).unwrap_or_default(),
        created_at: r.get(8)?,
    })
}

pub(crate) fn totp(r: &Row<'_>) -> rusqlite::Result<TotpCredential> {
    let step: i64 = r.get("last_used_step")?;
    Ok(TotpCredential {
        id: CredentialId::new(r.get::<_, String>("id")?),
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        sealed_secret: r.get("sealed_secret")?,
        last_used_step: (step >= 0).then_some(step as u64),
        confirmed_at: r.get("confirmed_at")?,
        created_at: r.get("created_at")?,
    })
}

/// The credential columns of a joined row, from position `at` in this order: id, sealed
/// secret, last used step, confirmed time, created time (all NULL when there is none).
pub(crate) fn joined_totp(
    r: &Row<'_>,
    at: usize,
    user: &UserId,
) -> rusqlite::Result<Option<TotpCredential>> {
    let Some(id) = r.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    let step: i64 = r.get(at + 2)?;
    Ok(Some(TotpCredential {
        id: CredentialId::new(id),
        user_id: user.clone(),
        sealed_secret: r.get(at + 1)?,
        last_used_step: (step >= 0).then_some(step as u64),
        confirmed_at: r.get(at + 3)?,
        created_at: r.get(at + 4)?,
    }))
}

pub(crate) fn challenge(r: &Row<'_>) -> rusqlite::Result<ChallengeRecord> {
    Ok(ChallengeRecord {
        digest: digest(r.get("digest")?)?,
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        attempts: count(r, "attempts")?,
        consumed_at: r.get("consumed_at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
    })
}

pub(crate) fn session(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId::new(r.get::<_, String>("id")?),
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        created_at: r.get("created_at")?,
        last_seen_at: r.get("last_seen_at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
    })
}

pub(crate) fn device(r: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: DeviceId::new(r.get::<_, String>("id")?),
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        name: r.get("name")?,
        created_at: r.get("created_at")?,
        last_used_at: r.get("last_used_at")?,
        last_ip: r.get("last_ip")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(crate) fn activity(r: &Row<'_>) -> rusqlite::Result<ActivityRecord> {
    Ok(ActivityRecord {
        id: r.get("id")?,
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        at: r.get("at")?,
        kind: r.get("kind")?,
        method: r.get("method")?,
        result: r.get("result")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
        detail: r.get("detail")?,
        country: r.get("country")?,
    })
}

pub(crate) fn api_key(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::new(r.get::<_, String>("id")?),
        name: r.get("name")?,
        created_at: r.get("created_at")?,
    })
}

pub(crate) fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

fn channel(text: &str) -> rusqlite::Result<Channel> {
    match text {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(bad_data(format!(
            "unknown channel `{other}` in the database"
        ))),
    }
}

pub(crate) fn oob_method(r: &Row<'_>) -> rusqlite::Result<OobMethod> {
    Ok(OobMethod {
        id: CredentialId::new(r.get::<_, String>("id")?),
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        channel: channel(&r.get::<_, String>("channel")?)?,
        destination: r.get("destination")?,
        confirmed_at: r.get("confirmed_at")?,
        created_at: r.get("created_at")?,
    })
}

/// A binding as stored: (kind, value).
pub(crate) fn binding_parts(b: &CodeBinding) -> (&'static str, String) {
    match b {
        CodeBinding::Challenge(d) => ("challenge", nidan_service::ids::hex(d)),
        CodeBinding::Enrolment(id) => ("enrolment", id.as_str().to_owned()),
        CodeBinding::Session(id) => ("session", id.as_str().to_owned()),
    }
}

pub(crate) fn oob_code(r: &Row<'_>, binding: CodeBinding) -> rusqlite::Result<OobCode> {
    Ok(OobCode {
        id: r.get("id")?,
        user_id: UserId::new(r.get::<_, String>("user_id")?),
        binding,
        channel: channel(&r.get::<_, String>("channel")?)?,
        destination: r.get("destination")?,
        digest: digest(r.get("digest")?)?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        attempts: count(r, "attempts")?,
        used_at: r.get("used_at")?,
        client: r.get("client")?,
    })
}

pub(crate) fn queued_notice(r: &Row<'_>) -> rusqlite::Result<QueuedNotice> {
    Ok(QueuedNotice {
        id: r.get("id")?,
        email: r.get("email")?,
        locale: Locale::parse(&r.get::<_, String>("locale")?).unwrap_or_default(),
        kind: r.get("kind")?,
        at: r.get("at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
        country: r.get("country")?,
        attempts: count(r, "attempts")?,
    })
}
