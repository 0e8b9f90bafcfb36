//! Rows into the service's records, once for both backends.

use nidan_service::ports::{
    ActivityRecord, ApiKeyRecord, ChallengeRecord, CodeBinding, DeviceRecord, OobCode, OobMethod,
    PasswordReset, QueuedNotice, SessionRecord, TotpCredential, UserRecord, WebauthnCeremony,
    WebauthnKey,
};
use nidan_service::{CredentialId, UserId};

use crate::db::{DbError, DbRow};

/// The columns [`user`] decodes, by position, from the start of a row: every statement it
/// decodes selects exactly these first ([`user_columns!`] writes the list, [`select_user!`]
/// uses it). Positions, because finding a column by name compares it with every column name
/// before it, for each field, and the account read of every verification decodes a user (test
/// `user_statements_select_user_fields`).
pub(crate) const USER_FIELDS: [&str; 11] = [
    "id",
    "email",
    "password_hash",
    "two_step_enabled",
    "default_method",
    "failed_attempts",
    "last_failure_at",
    "locale",
    "created_at",
    "disabled_at",
    "two_step_off_until",
];

/// The column list of [`USER_FIELDS`], each name after `$table` (`""` or an alias like `"u."`).
macro_rules! user_columns {
    ($table:literal) => {
        $crate::records::user_columns!(@each $table; id, email, password_hash,
            two_step_enabled, default_method, failed_attempts, last_failure_at, locale, created_at,
            disabled_at, two_step_off_until)
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

/// Writes decoders `fn name(row) -> Record`, each field from the column of its name (or, after
/// `=`, from an expression of the row, named after the leading `|r|`).
macro_rules! record {
    (|$r:ident| $($name:ident -> $ty:ident { $($field:ident $(= $value:expr)?),* $(,)? })*) => {$(
        pub(crate) fn $name($r: &dyn DbRow) -> Result<$ty, DbError> {
            Ok($ty { $($field: record!(@get $r, $field $(, $value)?)),* })
        }
    )*};
    (@get $r:ident, $field:ident) => { $r.get(stringify!($field))? };
    (@get $r:ident, $field:ident, $value:expr) => { $value };
}

/// A user from the first [`USER_FIELDS`].len() columns of a row.
pub(crate) fn user(r: &dyn DbRow) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        two_step_enabled: r.get(3)?,
        default_method: r.get(4)?,
        failed_attempts: r.get(5)?,
        last_failure_at: r.get(6)?,
        locale: r.get(7)?,
        created_at: r.get(8)?,
        disabled_at: r.get(9)?,
        two_step_off_until: r.get(10)?,
    })
}

/// A stored step (-1: none yet).
fn step(stored: i64) -> Option<u64> {
    (stored >= 0).then_some(stored as u64)
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

record! {
    |r|
    totp -> TotpCredential {
        id, user_id, sealed_secret, last_used_step = step(r.get("last_used_step")?), confirmed_at,
        created_at,
    }
    challenge -> ChallengeRecord {
        digest, user_id, created_at, expires_at, attempts, consumed_at, ip, user_agent,
    }
    session -> SessionRecord { id, user_id, created_at, last_seen_at, ip, user_agent, second_step }
    device -> DeviceRecord { id, user_id, name, created_at, last_used_at, last_ip, expires_at }
    activity -> ActivityRecord {
        id, user_id, at, kind, method, result, ip, user_agent, detail, country,
    }
    api_key -> ApiKeyRecord { id, name, created_at, scopes, last_used_at }
    oob_method -> OobMethod { id, user_id, channel, destination, confirmed_at, created_at }
    webauthn_key -> WebauthnKey {
        id, user_id, credential_id, name, passkey, credential, counter, created_at, last_used_at,
    }
    webauthn_ceremony -> WebauthnCeremony { binding, user_id, state, expires_at }
    password_reset -> PasswordReset { digest, user_id, created_at, expires_at, used_at, ip }
    queued_notice -> QueuedNotice {
        id, email, locale, kind, at, ip, user_agent, country, attempts,
    }
}

/// A binding as stored: (kind, value).
pub(crate) fn binding_parts(b: &CodeBinding) -> (&'static str, String) {
    match b {
        CodeBinding::Challenge(d) => ("challenge", nidan_service::ids::hex(d)),
        CodeBinding::Enrolment(id) => ("enrolment", id.as_str().to_owned()),
        CodeBinding::Session(id) => ("session", id.as_str().to_owned()),
        // Sent to an address not yet confirmed: counted with the enrolments by the send caps.
        CodeBinding::NewEmail(id) => ("enrolment", format!("sign-in-email:{}", id.as_str())),
        CodeBinding::App(id) => ("app", id.as_str().to_owned()),
    }
}

pub(crate) fn oob_code(r: &dyn DbRow, binding: CodeBinding) -> Result<OobCode, DbError> {
    Ok(OobCode {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        binding,
        channel: r.get("channel")?,
        destination: r.get("destination")?,
        digest: r.get("digest")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        attempts: r.get("attempts")?,
        used_at: r.get("used_at")?,
        client: r.get("client")?,
    })
}
