//! Rows into the service's records, once for both backends.

use nidan_domain::Method;
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::{
    ActivityRecord, ApiKeyRecord, ChallengeRecord, CodeBinding, DeviceRecord, OobCode, OobMethod,
    QueuedNotice, SessionRecord, TotpCredential, UserRecord,
};
use nidan_service::{ApiKeyId, CredentialId, DeviceId, SessionId, UserId};

use crate::db::{DbError, DbRow};

/// The columns [`user`] decodes, by position, from the start of a row: every statement it
/// decodes selects exactly these first ([`user_columns!`] writes the list, [`select_user!`]
/// uses it). Positions, because finding a column by name compares it with every column name
/// before it, for each field, and the account read of every verification decodes a user (test
/// `user_statements_select_user_fields`).
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
        $crate::records::user_columns!(@each $table; id, email, password_hash,
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
        $crate::sql!(concat!(
            "SELECT ",
            $crate::records::user_columns!(""),
            " FROM users ",
            $rest
        ))
    };
}
pub(crate) use select_user;

fn method(text: Option<String>) -> Option<Method> {
    text.and_then(|t| t.parse().ok())
}

/// A user from the first [`USER_FIELDS`].len() columns of a row.
pub(crate) fn user(r: &dyn DbRow) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: UserId::new(r.get::<String>(0)?),
        email: r.get(1)?,
        password_hash: r.get(2)?,
        two_step_enabled: r.get(3)?,
        default_method: method(r.get(4)?),
        failed_attempts: r.get(5)?,
        last_failure_at: r.get(6)?,
        locale: Locale::parse(&r.get::<String>(7)?).unwrap_or_default(),
        created_at: r.get(8)?,
    })
}

fn step(stored: i64) -> Option<u64> {
    (stored >= 0).then_some(stored as u64)
}

pub(crate) fn totp(r: &dyn DbRow) -> Result<TotpCredential, DbError> {
    Ok(TotpCredential {
        id: CredentialId::new(r.get::<String>("id")?),
        user_id: UserId::new(r.get::<String>("user_id")?),
        sealed_secret: r.get("sealed_secret")?,
        last_used_step: step(r.get("last_used_step")?),
        confirmed_at: r.get("confirmed_at")?,
        created_at: r.get("created_at")?,
    })
}

/// The credential columns of a joined row, from position `at` in this order: id, sealed
/// secret, last used step, confirmed time, created time (all NULL when there is none).
pub(crate) fn joined_totp(
    r: &dyn DbRow,
    at: usize,
    user: &UserId,
) -> Result<Option<TotpCredential>, DbError> {
    let Some(id) = r.get::<Option<String>>(at)? else {
        return Ok(None);
    };
    Ok(Some(TotpCredential {
        id: CredentialId::new(id),
        user_id: user.clone(),
        sealed_secret: r.get(at + 1)?,
        last_used_step: step(r.get(at + 2)?),
        confirmed_at: r.get(at + 3)?,
        created_at: r.get(at + 4)?,
    }))
}

pub(crate) fn challenge(r: &dyn DbRow) -> Result<ChallengeRecord, DbError> {
    Ok(ChallengeRecord {
        digest: r.get("digest")?,
        user_id: UserId::new(r.get::<String>("user_id")?),
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        attempts: r.get("attempts")?,
        consumed_at: r.get("consumed_at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
    })
}

pub(crate) fn session(r: &dyn DbRow) -> Result<SessionRecord, DbError> {
    Ok(SessionRecord {
        id: SessionId::new(r.get::<String>("id")?),
        user_id: UserId::new(r.get::<String>("user_id")?),
        created_at: r.get("created_at")?,
        last_seen_at: r.get("last_seen_at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
    })
}

pub(crate) fn device(r: &dyn DbRow) -> Result<DeviceRecord, DbError> {
    Ok(DeviceRecord {
        id: DeviceId::new(r.get::<String>("id")?),
        user_id: UserId::new(r.get::<String>("user_id")?),
        name: r.get("name")?,
        created_at: r.get("created_at")?,
        last_used_at: r.get("last_used_at")?,
        last_ip: r.get("last_ip")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(crate) fn activity(r: &dyn DbRow) -> Result<ActivityRecord, DbError> {
    Ok(ActivityRecord {
        id: r.get("id")?,
        user_id: UserId::new(r.get::<String>("user_id")?),
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

pub(crate) fn api_key(r: &dyn DbRow) -> Result<ApiKeyRecord, DbError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::new(r.get::<String>("id")?),
        name: r.get("name")?,
        created_at: r.get("created_at")?,
    })
}

fn channel(text: &str) -> Result<Channel, DbError> {
    match text {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(DbError::Data(format!(
            "unknown channel `{other}` in the database"
        ))),
    }
}

pub(crate) fn oob_method(r: &dyn DbRow) -> Result<OobMethod, DbError> {
    Ok(OobMethod {
        id: CredentialId::new(r.get::<String>("id")?),
        user_id: UserId::new(r.get::<String>("user_id")?),
        channel: channel(&r.get::<String>("channel")?)?,
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

pub(crate) fn oob_code(r: &dyn DbRow, binding: CodeBinding) -> Result<OobCode, DbError> {
    Ok(OobCode {
        id: r.get("id")?,
        user_id: UserId::new(r.get::<String>("user_id")?),
        binding,
        channel: channel(&r.get::<String>("channel")?)?,
        destination: r.get("destination")?,
        digest: r.get("digest")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        attempts: r.get("attempts")?,
        used_at: r.get("used_at")?,
        client: r.get("client")?,
    })
}

pub(crate) fn queued_notice(r: &dyn DbRow) -> Result<QueuedNotice, DbError> {
    Ok(QueuedNotice {
        id: r.get("id")?,
        email: r.get("email")?,
        locale: Locale::parse(&r.get::<String>("locale")?).unwrap_or_default(),
        kind: r.get("kind")?,
        at: r.get("at")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
        country: r.get("country")?,
        attempts: r.get("attempts")?,
    })
}
