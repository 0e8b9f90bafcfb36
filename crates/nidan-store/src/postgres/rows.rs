//! Turning PostgreSQL rows into the service's records.

use nidan_domain::Method;
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::{
    ActivityRecord, ApiKeyRecord, ChallengeRecord, CodeBinding, DeviceRecord, OobCode, OobMethod,
    QueuedNotice, SessionRecord, TotpCredential, UserRecord,
};
use nidan_service::{ApiKeyId, CredentialId, DeviceId, SessionId, StoreError, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::map;

pub(crate) fn digest(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Other("a stored digest is not 32 bytes".into()))
}

fn method(text: Option<String>) -> Option<Method> {
    text.and_then(|t| t.parse().ok())
}

pub(crate) fn user(r: &PgRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: UserId::new(r.try_get::<String, _>("id").map_err(map)?),
        email: r.try_get("email").map_err(map)?,
        password_hash: r.try_get("password_hash").map_err(map)?,
        two_step_enabled: r.try_get("two_step_enabled").map_err(map)?,
        default_method: method(r.try_get("default_method").map_err(map)?),
        failed_attempts: r
            .try_get::<i64, _>("failed_attempts")
            .map_err(map)?
            .clamp(0, u32::MAX as i64) as u32,
        last_failure_at: r.try_get("last_failure_at").map_err(map)?,
        locale: Locale::parse(&r.try_get::<String, _>("locale").map_err(map)?).unwrap_or_default(),
        created_at: r.try_get("created_at").map_err(map)?,
    })
}

pub(crate) fn totp(r: &PgRow) -> Result<TotpCredential, StoreError> {
    let step: i64 = r.try_get("last_used_step").map_err(map)?;
    Ok(TotpCredential {
        id: CredentialId::new(r.try_get::<String, _>("id").map_err(map)?),
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        sealed_secret: r.try_get("sealed_secret").map_err(map)?,
        last_used_step: (step >= 0).then_some(step as u64),
        confirmed_at: r.try_get("confirmed_at").map_err(map)?,
        created_at: r.try_get("created_at").map_err(map)?,
    })
}

/// The credential columns of `account_for_check` (prefixed `t_`, NULL without a credential).
pub(crate) fn joined_totp(r: &PgRow, user: &UserId) -> Result<Option<TotpCredential>, StoreError> {
    let Some(id) = r.try_get::<Option<String>, _>("t_id").map_err(map)? else {
        return Ok(None);
    };
    let step: i64 = r.try_get("t_last_used_step").map_err(map)?;
    Ok(Some(TotpCredential {
        id: CredentialId::new(id),
        user_id: user.clone(),
        sealed_secret: r.try_get("t_sealed_secret").map_err(map)?,
        last_used_step: (step >= 0).then_some(step as u64),
        confirmed_at: r.try_get("t_confirmed_at").map_err(map)?,
        created_at: r.try_get("t_created_at").map_err(map)?,
    }))
}

pub(crate) fn challenge(r: &PgRow) -> Result<ChallengeRecord, StoreError> {
    Ok(ChallengeRecord {
        digest: digest(r.try_get("digest").map_err(map)?)?,
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        created_at: r.try_get("created_at").map_err(map)?,
        expires_at: r.try_get("expires_at").map_err(map)?,
        attempts: r
            .try_get::<i64, _>("attempts")
            .map_err(map)?
            .clamp(0, u32::MAX as i64) as u32,
        consumed_at: r.try_get("consumed_at").map_err(map)?,
        ip: r.try_get("ip").map_err(map)?,
        user_agent: r.try_get("user_agent").map_err(map)?,
    })
}

pub(crate) fn session(r: &PgRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: SessionId::new(r.try_get::<String, _>("id").map_err(map)?),
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        created_at: r.try_get("created_at").map_err(map)?,
        last_seen_at: r.try_get("last_seen_at").map_err(map)?,
        ip: r.try_get("ip").map_err(map)?,
        user_agent: r.try_get("user_agent").map_err(map)?,
    })
}

pub(crate) fn device(r: &PgRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: DeviceId::new(r.try_get::<String, _>("id").map_err(map)?),
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        name: r.try_get("name").map_err(map)?,
        created_at: r.try_get("created_at").map_err(map)?,
        last_used_at: r.try_get("last_used_at").map_err(map)?,
        last_ip: r.try_get("last_ip").map_err(map)?,
        expires_at: r.try_get("expires_at").map_err(map)?,
    })
}

pub(crate) fn activity(r: &PgRow) -> Result<ActivityRecord, StoreError> {
    Ok(ActivityRecord {
        id: r.try_get("id").map_err(map)?,
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        at: r.try_get("at").map_err(map)?,
        kind: r.try_get("kind").map_err(map)?,
        method: r.try_get("method").map_err(map)?,
        result: r.try_get("result").map_err(map)?,
        ip: r.try_get("ip").map_err(map)?,
        user_agent: r.try_get("user_agent").map_err(map)?,
        detail: r.try_get("detail").map_err(map)?,
        country: r.try_get("country").map_err(map)?,
    })
}

pub(crate) fn api_key(r: &PgRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::new(r.try_get::<String, _>("id").map_err(map)?),
        name: r.try_get("name").map_err(map)?,
        created_at: r.try_get("created_at").map_err(map)?,
    })
}

pub(crate) fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

fn channel(text: &str) -> Result<Channel, StoreError> {
    match text {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(StoreError::Other(format!(
            "unknown channel `{other}` in the database"
        ))),
    }
}

pub(crate) fn oob_method(r: &PgRow) -> Result<OobMethod, StoreError> {
    Ok(OobMethod {
        id: CredentialId::new(r.try_get::<String, _>("id").map_err(map)?),
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        channel: channel(&r.try_get::<String, _>("channel").map_err(map)?)?,
        destination: r.try_get("destination").map_err(map)?,
        confirmed_at: r.try_get("confirmed_at").map_err(map)?,
        created_at: r.try_get("created_at").map_err(map)?,
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

pub(crate) fn oob_code(r: &PgRow, binding: CodeBinding) -> Result<OobCode, StoreError> {
    Ok(OobCode {
        id: r.try_get("id").map_err(map)?,
        user_id: UserId::new(r.try_get::<String, _>("user_id").map_err(map)?),
        binding,
        channel: channel(&r.try_get::<String, _>("channel").map_err(map)?)?,
        destination: r.try_get("destination").map_err(map)?,
        digest: digest(r.try_get("digest").map_err(map)?)?,
        created_at: r.try_get("created_at").map_err(map)?,
        expires_at: r.try_get("expires_at").map_err(map)?,
        attempts: r
            .try_get::<i64, _>("attempts")
            .map_err(map)?
            .clamp(0, u32::MAX as i64) as u32,
        used_at: r.try_get("used_at").map_err(map)?,
        client: r.try_get("client").map_err(map)?,
    })
}

pub(crate) fn queued_notice(r: &PgRow) -> Result<QueuedNotice, StoreError> {
    Ok(QueuedNotice {
        id: r.try_get("id").map_err(map)?,
        email: r.try_get("email").map_err(map)?,
        locale: Locale::parse(&r.try_get::<String, _>("locale").map_err(map)?).unwrap_or_default(),
        kind: r.try_get("kind").map_err(map)?,
        at: r.try_get("at").map_err(map)?,
        ip: r.try_get("ip").map_err(map)?,
        user_agent: r.try_get("user_agent").map_err(map)?,
        country: r.try_get("country").map_err(map)?,
        attempts: r
            .try_get::<i64, _>("attempts")
            .map_err(map)?
            .clamp(0, u32::MAX as i64) as u32,
    })
}
