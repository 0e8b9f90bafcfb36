//! Security keys and passkeys (WebAuthn), and their ceremonies in progress. A key's use is
//! settled with the other second steps (`check.rs`); here are adding, listing and removing keys,
//! and the one-time ceremonies.

use nidan_service::ports::{FirstMethod, WebauthnCeremony, WebauthnKey};
use nidan_service::{CredentialId, UserId};

use super::credentials::{after_method_removed, method_confirmed};
use crate::db::{Conn, DbError};
use crate::records;
use crate::{args, sql, statements};

statements! {
    put_webauthn_ceremony(w: &WebauthnCeremony) -> () =
        done "INSERT INTO webauthn_ceremonies (binding, user_id, state, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (binding) DO UPDATE SET user_id = excluded.user_id, state = excluded.state, expires_at = excluded.expires_at"
        [&w.binding, w.user_id.as_ref().map(UserId::as_str), &w.state, w.expires_at];

    webauthn_keys(user: &UserId) -> Vec<WebauthnKey> =
        rows(records::webauthn_key) "SELECT * FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id"
        [user.as_str()];

    webauthn_key_by_credential_id(credential_id: &[u8]) -> Option<WebauthnKey> =
        row(records::webauthn_key) "SELECT * FROM webauthn_credentials WHERE credential_id = $1"
        [credential_id];
}

/// Takes the ceremony: the DELETE that returns it is the one statement that decides who may
/// finish it (an expired one is deleted all the same, and answered `None`).
pub(crate) async fn take_webauthn_ceremony<C: Conn>(
    c: &mut C,
    binding: &str,
    now: i64,
) -> Result<Option<WebauthnCeremony>, DbError> {
    let taken = c
        .row(
            sql!("DELETE FROM webauthn_ceremonies WHERE binding = $1 RETURNING *"),
            args![binding],
            &records::webauthn_ceremony,
        )
        .await?;
    Ok(taken.filter(|w| w.expires_at > now))
}

/// Adds a key (a duplicate credential id is the unique constraint's conflict), and turns two-step
/// on when it is the first method.
pub(crate) async fn add_webauthn_key<C: Conn>(
    c: &mut C,
    k: &WebauthnKey,
    first: Option<&FirstMethod>,
) -> Result<(), DbError> {
    c.lock_user(k.user_id.as_str()).await?;
    c.exec(
        sql!("INSERT INTO webauthn_credentials (id, user_id, credential_id, name, passkey, credential, counter, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)"),
        args![k.id.as_str(), k.user_id.as_str(), &k.credential_id, &k.name, k.passkey, &k.credential, i64::from(k.counter), k.created_at],
    )
    .await?;
    method_confirmed(c, &k.user_id, "webauthn", first, k.created_at).await
}

/// Removes one of the user's keys; when it was the last method, two-step becomes `none`.
pub(crate) async fn delete_webauthn_key<C: Conn>(
    c: &mut C,
    user: &UserId,
    id: &CredentialId,
) -> Result<bool, DbError> {
    c.lock_user(user.as_str()).await?;
    let gone = c
        .exec(
            sql!("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2"),
            args![id.as_str(), user.as_str()],
        )
        .await?
        == 1;
    if gone {
        after_method_removed(c, user, "webauthn").await?;
    }
    Ok(gone)
}
