//! Accounts and API keys.

use std::sync::Arc;

use super::fixture::{Fixture, NOW, expect_conflict};
use crate::courier::Channel;
use crate::ports::{ApiKeyRecord, NewUser, OobMethod, Store};
use crate::{ApiKeyId, CredentialId, UserId};

/// An account is found by email and by id with the fields it was created with; a taken email or
/// id is `Conflict` and leaves the first account untouched.
pub async fn users_create_find_and_reject_duplicates(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let new = fx.new_user();
    fx.store
        .create_user(new.clone())
        .await
        .expect("create_user failed");

    let by_email = fx
        .store
        .user_by_email(&new.email)
        .await
        .expect("user_by_email failed")
        .expect("user_by_email must find a created account");
    let by_id = fx.user_record(&new.id).await;
    for (how, u) in [("by email", &by_email), ("by id", &by_id)] {
        assert_eq!(u.id, new.id, "user {how}: id");
        assert_eq!(u.email, new.email, "user {how}: email");
        assert_eq!(
            u.password_hash, new.password_hash,
            "user {how}: password hash"
        );
        assert!(
            !u.two_step_enabled,
            "user {how}: a new account has two-step off"
        );
        assert_eq!(
            u.default_method, None,
            "user {how}: a new account has no default method"
        );
        assert_eq!(
            u.failed_attempts, 0,
            "user {how}: a new account has no failures"
        );
        assert_eq!(
            u.last_failure_at, None,
            "user {how}: a new account has no last failure"
        );
        assert_eq!(u.created_at, new.created_at, "user {how}: created_at");
    }
    assert!(
        fx.store
            .user_by_email("nobody@example.test")
            .await
            .expect("user_by_email failed")
            .is_none(),
        "user_by_email: unknown email must be None"
    );
    assert!(
        fx.store
            .user_by_id(&UserId::new("no-such-id"))
            .await
            .expect("user_by_id failed")
            .is_none(),
        "user_by_id: unknown id must be None"
    );

    let same_email = NewUser {
        id: UserId::new(fx.id()),
        ..new.clone()
    };
    expect_conflict(
        fx.store.create_user(same_email.clone()).await,
        "create_user with a taken email",
    );
    assert!(
        fx.store
            .user_by_id(&same_email.id)
            .await
            .expect("user_by_id failed")
            .is_none(),
        "a conflicting create_user must not store the account"
    );
    let still = fx
        .store
        .user_by_email(&new.email)
        .await
        .expect("user_by_email failed")
        .expect("the first account must survive a conflict");
    assert_eq!(
        still.id, new.id,
        "the email must still belong to the first account"
    );

    let same_id = NewUser {
        email: "other@example.test".into(),
        ..new.clone()
    };
    expect_conflict(
        fx.store.create_user(same_id).await,
        "create_user with a taken id",
    );

    fx.store
        .set_password_hash(&new.id, None, None)
        .await
        .expect("set_password_hash failed");
    assert_eq!(
        fx.user_record(&new.id).await.password_hash,
        None,
        "set_password_hash(None) must clear the password"
    );
    fx.store
        .set_password_hash(&new.id, Some("$argon2id$new".into()), None)
        .await
        .expect("set_password_hash failed");
    assert_eq!(
        fx.user_record(&new.id).await.password_hash.as_deref(),
        Some("$argon2id$new"),
        "set_password_hash must store the hash"
    );
}

/// `user_ids_by_email` answers only for emails that have an account, with the right ids.
pub async fn user_ids_by_email_finds_only_existing_accounts(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.new_user();
    let b = fx.new_user();
    fx.store
        .create_user(a.clone())
        .await
        .expect("create_user failed");
    fx.store
        .create_user(b.clone())
        .await
        .expect("create_user failed");
    let asked = vec![
        a.email.clone(),
        "missing@example.test".to_owned(),
        b.email.clone(),
    ];
    let mut found = fx
        .store
        .user_ids_by_email(&asked)
        .await
        .expect("user_ids_by_email failed");
    found.sort();
    let mut expected = vec![(a.email, a.id), (b.email, b.id)];
    expected.sort();
    assert_eq!(
        found, expected,
        "user_ids_by_email must return exactly the existing (email, id) pairs"
    );
    let none = fx
        .store
        .user_ids_by_email(&[])
        .await
        .expect("user_ids_by_email failed on no emails");
    assert!(
        none.is_empty(),
        "user_ids_by_email of no emails must be empty"
    );
}

/// An API key is found by digest until it is revoked by name; names are unique.
pub async fn api_keys_found_by_digest_until_revoked(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let key = ApiKeyRecord {
        id: ApiKeyId::new(fx.id()),
        name: "billing".into(),
        created_at: NOW,
        scopes: "verify,send".into(),
        last_used_at: None,
    };
    let digest = fx.digest();
    fx.store
        .create_api_key(key.clone(), digest)
        .await
        .expect("create_api_key failed");
    let other = ApiKeyRecord {
        id: ApiKeyId::new(fx.id()),
        name: "shop".into(),
        created_at: NOW,
        scopes: "verify".into(),
        last_used_at: None,
    };
    let other_digest = fx.digest();
    fx.store
        .create_api_key(other.clone(), other_digest)
        .await
        .expect("create_api_key failed");

    let found = fx
        .store
        .api_key_by_digest(&digest)
        .await
        .expect("api_key_by_digest failed")
        .expect("api_key_by_digest must find a created key");
    assert_eq!(
        (found.id, found.name.as_str(), found.created_at),
        (key.id.clone(), "billing", NOW),
        "api_key_by_digest: fields"
    );
    assert_eq!(
        (found.scopes.as_str(), found.last_used_at),
        ("verify,send", None),
        "api_key_by_digest: scopes, never used"
    );
    fx.store
        .touch_api_key(&key.id, NOW + 5)
        .await
        .expect("touch_api_key failed");
    let listed = fx
        .store
        .list_api_keys()
        .await
        .expect("list_api_keys failed");
    assert_eq!(
        listed
            .iter()
            .map(|k| (k.name.as_str(), k.last_used_at))
            .collect::<Vec<_>>(),
        vec![("billing", Some(NOW + 5)), ("shop", None)],
        "list_api_keys: the active keys by name, with their last use"
    );
    assert!(
        fx.store
            .api_key_by_digest(&fx.digest())
            .await
            .expect("api_key_by_digest failed")
            .is_none(),
        "api_key_by_digest: unknown digest is None"
    );

    let dup = ApiKeyRecord {
        id: ApiKeyId::new(fx.id()),
        name: "billing".into(),
        created_at: NOW,
        scopes: "verify".into(),
        last_used_at: None,
    };
    expect_conflict(
        fx.store.create_api_key(dup, fx.digest()).await,
        "create_api_key with a taken name",
    );

    assert!(
        fx.store
            .revoke_api_key("billing", NOW + 1)
            .await
            .expect("revoke_api_key failed"),
        "revoke_api_key of an active key must answer true"
    );
    assert!(
        fx.store
            .api_key_by_digest(&digest)
            .await
            .expect("api_key_by_digest failed")
            .is_none(),
        "a revoked key must not be found"
    );
    assert!(
        !fx.store
            .revoke_api_key("billing", NOW + 2)
            .await
            .expect("revoke_api_key failed"),
        "revoking a key twice must answer false"
    );
    assert!(
        !fx.store
            .revoke_api_key("nobody", NOW + 2)
            .await
            .expect("revoke_api_key failed"),
        "revoking an unknown key must answer false"
    );
    assert!(
        fx.store
            .api_key_by_digest(&other_digest)
            .await
            .expect("api_key_by_digest failed")
            .is_some(),
        "revoking one key must not revoke another"
    );

    // A revoked key's name may name a new key (an app gets a fresh key under its own name).
    let renewed = ApiKeyRecord {
        id: ApiKeyId::new(fx.id()),
        name: "billing".into(),
        created_at: NOW + 3,
        scopes: "verify".into(),
        last_used_at: None,
    };
    let renewed_digest = fx.digest();
    fx.store
        .create_api_key(renewed, renewed_digest)
        .await
        .expect("a revoked key's name must be usable again");
    assert!(
        fx.store
            .api_key_by_digest(&renewed_digest)
            .await
            .expect("api_key_by_digest failed")
            .is_some(),
        "the renewed key is found"
    );
}

/// `account_for_check` finds an account by email with its active credential, its email and SMS
/// methods, its unused recovery codes and how many security keys it has, and nothing for an
/// unknown email.
pub async fn account_for_check_reads_account_and_methods(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 8).await;
    let email = fx.user_record(&a).await.email;
    let found = fx
        .store
        .account_for_check(&email)
        .await
        .expect("account_for_check failed")
        .expect("account_for_check must find the account");
    assert_eq!(found.user.id, a, "the account");
    assert_eq!(
        found.totp.map(|t| t.id),
        Some(cred),
        "the active credential"
    );
    assert!(found.oob.is_empty(), "no email or SMS method");
    assert_eq!(found.recovery_codes_left, 8, "unused recovery codes");
    assert_eq!(found.webauthn_keys, 0, "no security key");
    for n in 0..2u8 {
        fx.store
            .add_webauthn_key(
                crate::ports::WebauthnKey {
                    id: CredentialId::new(fx.id()),
                    user_id: a.clone(),
                    credential_id: vec![n; 16],
                    name: format!("key {n}"),
                    passkey: false,
                    credential: "{}".into(),
                    counter: 0,
                    created_at: NOW,
                    last_used_at: None,
                },
                None,
            )
            .await
            .expect("add_webauthn_key failed");
    }
    let found = fx
        .store
        .account_for_check(&email)
        .await
        .expect("account_for_check failed")
        .expect("account_for_check must find the account");
    assert_eq!(found.webauthn_keys, 2, "its security keys, counted");

    // With an SMS number (confirmed) and a pending email address, both are listed.
    for (channel, destination) in [
        (Channel::Sms, "+819012345678"),
        (Channel::Email, "second@example.test"),
    ] {
        let method = OobMethod {
            id: CredentialId::new(fx.id()),
            user_id: a.clone(),
            channel,
            destination: destination.into(),
            confirmed_at: None,
            created_at: NOW,
        };
        fx.store
            .put_pending_oob(method.clone())
            .await
            .expect("put_pending_oob failed");
        if channel == Channel::Sms {
            assert!(
                fx.store
                    .activate_oob(&a, &method.id, NOW, None)
                    .await
                    .expect("activate_oob failed")
            );
        }
    }
    let found = fx
        .store
        .account_for_check(&email)
        .await
        .expect("account_for_check failed")
        .expect("still found");
    let mut listed: Vec<(Channel, bool)> = found
        .oob
        .iter()
        .map(|m| (m.channel, m.confirmed_at.is_some()))
        .collect();
    listed.sort_by_key(|(c, _)| *c == Channel::Sms);
    assert_eq!(
        listed,
        [(Channel::Email, false), (Channel::Sms, true)],
        "email and SMS methods, pending and confirmed"
    );

    let bare = fx.user().await;
    let bare_email = fx.user_record(&bare).await.email;
    let found = fx
        .store
        .account_for_check(&bare_email)
        .await
        .expect("account_for_check failed")
        .expect("an account without methods is found too");
    assert!(found.totp.is_none() && found.oob.is_empty() && found.recovery_codes_left == 0);
    assert!(
        fx.store
            .account_for_check("nobody@example.test")
            .await
            .expect("account_for_check failed")
            .is_none(),
        "an unknown email is None"
    );
}

/// `challenge_for_check` reads a sign-in challenge with its account as `account_for_check`
/// reads it, and nothing for an unknown challenge.
pub async fn challenge_for_check_reads_challenge_and_account(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 8).await;
    let digest = fx.challenge(&a, NOW - 10).await;
    let (challenge, account) = fx
        .store
        .challenge_for_check(&digest)
        .await
        .expect("challenge_for_check failed")
        .expect("challenge_for_check must find the challenge");
    assert_eq!(
        (challenge.digest, challenge.user_id.clone()),
        (digest, a.clone()),
        "the challenge"
    );
    let email = fx.user_record(&a).await.email;
    let by_email = fx
        .store
        .account_for_check(&email)
        .await
        .expect("account_for_check failed")
        .expect("found by email");
    assert_eq!(
        (&account.user.id, &account.user.email),
        (&by_email.user.id, &by_email.user.email),
        "the same account"
    );
    assert_eq!(
        account.totp.map(|t| t.id),
        Some(cred),
        "its active credential"
    );
    assert_eq!(account.recovery_codes_left, 8, "its unused recovery codes");
    assert!(
        fx.store
            .challenge_for_check(&fx.digest())
            .await
            .expect("challenge_for_check failed")
            .is_none(),
        "an unknown challenge is None"
    );
}

/// `clear_code_failures` forgets the account's counted wrong codes and nobody else's.
pub async fn clear_code_failures_forgets_the_count(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    for user in [&a, &b] {
        fx.settle_fresh(user, NOW - 5, crate::ports::Candidate::Wrong, None)
            .await;
    }
    assert_eq!((fx.failures(&a).await, fx.failures(&b).await), (1, 1));
    fx.store
        .clear_code_failures(&a)
        .await
        .expect("clear_code_failures failed");
    let cleared = fx.user_record(&a).await;
    assert_eq!(
        (cleared.failed_attempts, cleared.last_failure_at),
        (0, None),
        "the count and its time are forgotten"
    );
    assert_eq!(fx.failures(&b).await, 1, "another account keeps its count");
}
