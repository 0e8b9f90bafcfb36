//! The JSON API, one module per concern; each owns its routes.

pub mod account;
pub mod apps;
pub mod authz;
pub mod codes;
pub mod lifecycle;
pub mod me;
pub mod oidc;
pub mod ops;
pub mod two_step;
pub mod webauthn;

use nidan_service::UnixTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix seconds as an RFC 3339 UTC string.
pub fn rfc3339(t: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}
