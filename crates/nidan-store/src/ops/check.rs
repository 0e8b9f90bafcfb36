//! The hot path: the account read of a code check, and settling the attempt.
//!
//! `settle_attempt` reserves the attempt with a compare-and-swap on the account's failure count
//! (the compare is a read under the account's lock: PostgreSQL's row lock taken by that very
//! read, or SQLite's single writer), reserves one of the challenge's attempts, consumes the factor
//! with a conditional update, and on success clears the failures and creates the session — all
//! or nothing. Concurrent requests for the same code, on any number of nodes, therefore produce
//! exactly one success.

use nidan_domain::SecondStep;
use nidan_service::ports::{
    AccountForCheck, Attempt, Candidate, ChallengeRecord, NewActivity, NewDevice, NewSession,
    Settled,
};

use crate::account_check::CheckRow;
use crate::db::{Conn, DbError, Sql, Step};
use crate::records::{self, USER_FIELDS, user_columns};
use crate::{args, sql, statements};

/// The account read of every check, by the account's email or id: the user's columns
/// ([`USER_FIELDS`]), then its active credential's, then the counts (positions `CHECK_*`). The one
/// statement whose text differs by backend: SQLite finds the credential by `rowid` (one b-tree
/// descent less than by `id` on every check), PostgreSQL with a `LATERAL` join.
macro_rules! check_statement {
    ($key:literal) => {
        Sql {
            pg: concat!(
                check_columns!(),
                " LEFT JOIN LATERAL (
                    SELECT * FROM totp_credentials WHERE user_id = u.id AND confirmed_at IS NOT NULL
                    ORDER BY confirmed_at DESC LIMIT 1) t ON TRUE
                 WHERE u.",
                $key,
                " = $1"
            ),
            lite: concat!(
                check_columns!(),
                " LEFT JOIN totp_credentials t ON t.rowid = (
                    SELECT rowid FROM totp_credentials WHERE user_id = u.id AND confirmed_at IS NOT NULL
                    ORDER BY confirmed_at DESC LIMIT 1)
                 WHERE u.",
                $key,
                " = ?1"
            ),
        }
    };
}

/// [`check_statement!`] by email (the app API).
pub(crate) const ACCOUNT_FOR_CHECK: Sql = check_statement!("email");
/// [`check_statement!`] by id (the second step of a sign-in).
pub(crate) const ACCOUNT_FOR_CHECK_BY_ID: Sql = check_statement!("id");

/// What [`check_statement!`] selects, from `users u` joined to the credential `t`.
macro_rules! check_columns {
    () => {
        concat!(
            "SELECT ",
            user_columns!("u."),
            ", t.id AS t_id, t.sealed_secret AS t_sealed_secret,
            t.last_used_step AS t_last_used_step, t.confirmed_at AS t_confirmed_at,
            t.created_at AS t_created_at,
            (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)
                AS recovery_left,
            EXISTS (SELECT 1 FROM oob_methods o WHERE o.user_id = u.id) AS has_oob,
            (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.user_id = u.id) AS webauthn_keys
            FROM users u"
        )
    };
}
use check_columns;

/// Where the credential's columns start in [`ACCOUNT_FOR_CHECK`].
pub(crate) const CHECK_TOTP: usize = USER_FIELDS.len();
/// The unused recovery codes, then whether there are email or SMS methods.
const CHECK_RECOVERY_LEFT: usize = CHECK_TOTP + 5;
const CHECK_HAS_OOB: usize = CHECK_RECOVERY_LEFT + 1;
const CHECK_WEBAUTHN_KEYS: usize = CHECK_HAS_OOB + 1;

/// An account with what a code check needs, by email, in one statement (a second one only
/// when the account has email or SMS methods).
pub(crate) async fn account_for_check<C: Conn>(
    c: &mut C,
    email: &str,
) -> Result<Option<AccountForCheck>, DbError> {
    account_by(c, ACCOUNT_FOR_CHECK, email).await
}

/// A sign-in challenge with its account and what a code check of it needs, in one read.
pub(crate) async fn challenge_for_check<C: Conn>(
    c: &mut C,
    digest: &[u8; 32],
) -> Result<Option<(ChallengeRecord, AccountForCheck)>, DbError> {
    let Some(challenge) = super::sessions::challenge_by_digest(c, digest).await? else {
        return Ok(None);
    };
    let account = account_by(c, ACCOUNT_FOR_CHECK_BY_ID, challenge.user_id.as_str()).await?;
    Ok(account.map(|a| (challenge, a)))
}

async fn account_by<C: Conn>(
    c: &mut C,
    statement: Sql,
    key: &str,
) -> Result<Option<AccountForCheck>, DbError> {
    let found = c
        .row(statement, args![key], &|r| {
            let user = records::user(r)?;
            Ok(CheckRow {
                totp: records::joined_totp(r, CHECK_TOTP, &user.id)?,
                recovery_left: r.get(CHECK_RECOVERY_LEFT)?,
                has_oob: r.get(CHECK_HAS_OOB)?,
                webauthn_keys: r.get(CHECK_WEBAUTHN_KEYS)?,
                user,
            })
        })
        .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let oob = if row.has_oob {
        super::codes::oob_methods(c, &row.user.id).await?
    } else {
        Vec::new()
    };
    Ok(Some(row.into_account(oob)))
}

statements! {
    insert_session(s: &NewSession) -> () =
        done "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent, second_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        [s.record.id.as_str(), &s.digest, s.record.user_id.as_str(), s.record.created_at, s.record.last_seen_at, &s.record.ip, &s.record.user_agent, s.record.second_step.map(SecondStep::as_str)];
}

statements! {
    insert_device(d: &NewDevice) -> () =
        done "INSERT INTO devices (id, digest, user_id, name, created_at, last_used_at, last_ip, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        [d.record.id.as_str(), &d.digest, d.record.user_id.as_str(), &d.record.name, d.record.created_at, d.record.last_used_at, &d.record.last_ip, d.record.expires_at];
}

statements! {
    insert_activity(e: &NewActivity) -> () =
        done "INSERT INTO activity (user_id, at, kind, method, result, ip, user_agent, detail, country) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        [e.user_id.as_str(), e.at, e.kind, e.method.map(|m| m.as_str()), e.result, &e.ip, &e.user_agent, &e.detail, &e.country];
}

/// `settle_attempt`: the attempt, then its activity line when it settled, in one transaction.
pub(crate) async fn settle_and_record<C: Conn>(
    c: &mut C,
    a: &Attempt,
) -> Result<Step<Settled>, DbError> {
    let step = settle(c, a).await?;
    if let Step::Commit(settled) = &step
        && let Some(event) = a.record_for(settled)
    {
        insert_activity(c, &event).await?;
    }
    Ok(step)
}

/// The body of `settle_attempt` (see the module comment). Every rollback is decided before the
/// first write.
async fn settle<C: Conn>(c: &mut C, a: &Attempt) -> Result<Step<Settled>, DbError> {
    // The compare of the compare-and-swap. Under the account's lock (taken by this very read on
    // PostgreSQL; the writer thread is alone on SQLite) nothing can change the count between this
    // read and the writes below; the row is then written only when the count really changes (a
    // right code on an account without failures writes nothing here).
    let failures: Option<i64> = c
        .row(
            crate::sql_locking!("SELECT failed_attempts FROM users WHERE id = $1"),
            args![a.user_id.as_str()],
            &|r| r.get(0),
        )
        .await?;
    if failures != Some(i64::from(a.seen_failures)) {
        return Ok(Step::Rollback(Settled::Raced));
    }

    let mut attempts_left = None;
    if let Some(ch) = &a.challenge {
        let attempts: Option<i64> = c
            .row(
                sql!("UPDATE challenges SET attempts = attempts + 1 WHERE digest = $1 AND user_id = $2 AND consumed_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING attempts"),
                args![&ch.digest, a.user_id.as_str(), a.now, i64::from(ch.max_attempts)],
                &|r| r.get(0),
            )
            .await?;
        let Some(attempts) = attempts else {
            return Ok(Step::Rollback(Settled::ChallengeDead));
        };
        attempts_left = Some((i64::from(ch.max_attempts) - attempts).max(0) as u32);
    }

    let (accepted, replayed, is_recovery) = match &a.candidate {
        Candidate::TotpStep {
            credential_id,
            step,
        } => {
            let step = i64::try_from(*step).unwrap_or(i64::MAX);
            let ok = c
                .exec(
                    sql!("UPDATE totp_credentials SET last_used_step = $1 WHERE id = $2 AND user_id = $3 AND last_used_step < $1"),
                    args![step, credential_id.as_str(), a.user_id.as_str()],
                )
                .await?
                == 1;
            (ok, !ok, false)
        }
        Candidate::RecoveryDigest(d) => {
            let ok = c
                .exec(
                    sql!("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL"),
                    args![a.now, a.user_id.as_str(), d],
                )
                .await?
                == 1;
            (ok, false, true)
        }
        Candidate::OobCode {
            code_id,
            digest,
            max_attempts,
        } => {
            // One try counted against the code itself, only while it is alive; it is used up
            // in the same statement when the digest matches.
            let used: Option<bool> = c
                .row(
                    sql!("UPDATE oob_codes SET attempts = attempts + 1, used_at = CASE WHEN digest = $5 THEN $3 ELSE used_at END WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING used_at IS NOT NULL"),
                    args![code_id, a.user_id.as_str(), a.now, i64::from(*max_attempts), digest],
                    &|r| r.get(0),
                )
                .await?;
            (used == Some(true), false, false)
        }
        Candidate::SecurityKey {
            key_id,
            counter,
            credential,
        } => {
            let ok = c
                .exec(
                    sql!("UPDATE webauthn_credentials SET counter = $1, credential = $2, last_used_at = $3 WHERE id = $4 AND user_id = $5 AND (counter < $1 OR (counter = 0 AND $1 = 0))"),
                    args![i64::from(*counter), credential, a.now, key_id.as_str(), a.user_id.as_str()],
                )
                .await?
                == 1;
            (ok, !ok, false)
        }
        Candidate::Wrong => (false, false, false),
    };

    if !accepted {
        c.exec(
            sql!("UPDATE users SET failed_attempts = failed_attempts + 1, last_failure_at = $1 WHERE id = $2"),
            args![a.now, a.user_id.as_str()],
        )
        .await?;
        return Ok(Step::Commit(Settled::Rejected {
            failures: a.seen_failures.saturating_add(1),
            challenge_attempts_left: attempts_left,
            replayed,
        }));
    }

    // The count is `seen_failures` here; a count of 0 never has a failure time (both are set
    // and cleared together), so there is nothing to clear.
    if a.seen_failures != 0 {
        c.exec(
            sql!("UPDATE users SET failed_attempts = 0, last_failure_at = NULL WHERE id = $1"),
            args![a.user_id.as_str()],
        )
        .await?;
    }
    let recovery_codes_left = if is_recovery {
        Some(super::credentials::recovery_codes_left(c, &a.user_id).await?)
    } else {
        None
    };
    if let Some(ch) = &a.challenge {
        c.exec(
            sql!("UPDATE challenges SET consumed_at = $1 WHERE digest = $2"),
            args![a.now, &ch.digest],
        )
        .await?;
        insert_session(c, &ch.grant.session).await?;
        if let Some(d) = &ch.grant.device {
            insert_device(c, d).await?;
        }
    }
    Ok(Step::Commit(Settled::Accepted {
        recovery_codes_left,
    }))
}
