//! The reads that several operations share: each one statement on a given connection, so a
//! single read (`engine.read`), `account_for_check` (`engine.read_on_writer`) and a writer job
//! all run the same SQL.

use nidan_service::ports::{OobMethod, TotpCredential, UserRecord};
use rusqlite::Connection;

use super::rows::{self, all, one};

pub(crate) fn user_by_email(c: &Connection, email: &str) -> rusqlite::Result<Option<UserRecord>> {
    one(
        c,
        "SELECT * FROM users WHERE email = ?1",
        [email],
        rows::user,
    )
}

/// The user's confirmed authenticator-app credential.
pub(crate) fn active_totp(c: &Connection, user: &str) -> rusqlite::Result<Option<TotpCredential>> {
    one(
        c,
        "SELECT * FROM totp_credentials WHERE user_id = ?1 AND confirmed_at IS NOT NULL ORDER BY confirmed_at DESC LIMIT 1",
        [user],
        rows::totp,
    )
}

/// The user's email and SMS methods, pending and confirmed.
pub(crate) fn oob_methods(c: &Connection, user: &str) -> rusqlite::Result<Vec<OobMethod>> {
    all(
        c,
        "SELECT * FROM oob_methods WHERE user_id = ?1 ORDER BY created_at, id",
        [user],
        rows::oob_method,
    )
}

pub(crate) fn recovery_codes_left(c: &Connection, user: &str) -> rusqlite::Result<u32> {
    c.prepare_cached("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL")?
        .query_row([user], |r| r.get::<_, i64>(0))
        .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32)
}
