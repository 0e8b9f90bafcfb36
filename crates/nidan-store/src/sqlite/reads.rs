//! The reads that several operations share: each one statement on a given connection, so a
//! single read (`engine.read`), `account_for_check` (`engine.read_on_writer`) and a writer job
//! all run the same SQL.

use nidan_service::ports::{AccountForCheck, OobMethod, TotpCredential, UserRecord};
use rusqlite::Connection;

use super::rows::{self, all, one};
use crate::account_check::CheckRow;

pub(crate) fn user_by_email(c: &Connection, email: &str) -> rusqlite::Result<Option<UserRecord>> {
    one(
        c,
        rows::select_user!("WHERE email = ?1"),
        [email],
        rows::user,
    )
}

/// The account read of every check: the user's columns ([`rows::USER_FIELDS`]), then its
/// active credential's, then the counts (positions `CHECK_*`).
pub(crate) const ACCOUNT_FOR_CHECK: &str = concat!(
    "SELECT ",
    rows::user_columns!("u."),
    ",
        t.id AS t_id, t.sealed_secret AS t_sealed_secret, t.last_used_step AS t_last_used_step,
        t.confirmed_at AS t_confirmed_at, t.created_at AS t_created_at,
        (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS recovery_left,
        EXISTS (SELECT 1 FROM oob_methods o WHERE o.user_id = u.id) AS has_oob
     FROM users u
     LEFT JOIN totp_credentials t ON t.rowid = (
        SELECT rowid FROM totp_credentials WHERE user_id = u.id AND confirmed_at IS NOT NULL
        ORDER BY confirmed_at DESC LIMIT 1)
     WHERE u.email = ?1"
);
/// Where the credential's columns start in [`ACCOUNT_FOR_CHECK`].
const CHECK_TOTP: usize = rows::USER_FIELDS.len();
/// The unused recovery codes, then whether there are email or SMS methods.
const CHECK_RECOVERY_LEFT: usize = CHECK_TOTP + 5;
const CHECK_HAS_OOB: usize = CHECK_RECOVERY_LEFT + 1;

/// An account with what a code check needs (see [`CheckRow`]).
pub(crate) fn account_for_check(
    c: &Connection,
    email: &str,
) -> rusqlite::Result<Option<AccountForCheck>> {
    let found = one(c, ACCOUNT_FOR_CHECK, [email], |r| {
        let user = rows::user(r)?;
        Ok(CheckRow {
            totp: rows::joined_totp(r, CHECK_TOTP, &user.id)?,
            recovery_left: r.get(CHECK_RECOVERY_LEFT)?,
            has_oob: r.get(CHECK_HAS_OOB)?,
            user,
        })
    })?;
    let Some(row) = found else {
        return Ok(None);
    };
    let oob = if row.has_oob {
        oob_methods(c, row.user.id.as_str())?
    } else {
        Vec::new()
    };
    Ok(Some(row.into_account(oob)))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every statement whose rows `rows::user` decodes names its columns in `USER_FIELDS`'
    /// order (decoding is by position, so a reordered list would swap fields silently).
    #[test]
    fn user_queries_select_user_fields() {
        let c = Connection::open_in_memory().unwrap();
        for migration in super::super::MIGRATOR.iter() {
            c.execute_batch(migration.sql.as_str()).unwrap();
        }
        for sql in [
            rows::select_user!("WHERE email = ?1"),
            rows::select_user!("WHERE id = ?1"),
            ACCOUNT_FOR_CHECK,
        ] {
            let statement = c.prepare(sql).unwrap();
            let names = statement.column_names();
            assert_eq!(names[..rows::USER_FIELDS.len()], rows::USER_FIELDS, "{sql}");
            if sql == ACCOUNT_FOR_CHECK {
                assert_eq!(
                    names[CHECK_TOTP..],
                    [
                        "t_id",
                        "t_sealed_secret",
                        "t_last_used_step",
                        "t_confirmed_at",
                        "t_created_at",
                        "recovery_left",
                        "has_oob"
                    ]
                );
            }
        }
    }
}
