//! Security keys and passkeys: keys added, found, listed and removed with what that affects;
//! a ceremony taken once (also under a race); a key's use accepted only with a counter that goes
//! up (or stays at 0).

use std::sync::Arc;

use super::fixture::{Fixture, NOW, expect_conflict, rejected};
use nidan_domain::Method;

use crate::ports::{Candidate, FirstMethod, Settled, Store, WebauthnCeremony, WebauthnKey};
use crate::{CredentialId, UserId};

fn key(fx: &Fixture, user: &UserId, counter: u32) -> WebauthnKey {
    WebauthnKey {
        id: CredentialId::new(fx.id()),
        user_id: user.clone(),
        credential_id: fx.digest().to_vec(),
        name: "YubiKey 5".into(),
        passkey: false,
        credential: "{\"counter\":0}".into(),
        counter,
        created_at: NOW,
        last_used_at: None,
    }
}

fn ceremony(binding: &str, user: &UserId, expires_at: i64) -> WebauthnCeremony {
    WebauthnCeremony {
        binding: binding.into(),
        user_id: Some(user.clone()),
        state: format!("{{\"for\":\"{binding}\"}}"),
        expires_at,
    }
}

/// The first key turns two-step on with recovery codes and ends the other sessions; a second is
/// listed after it; a credential id is registered once across all accounts; removing the last
/// key turns two-step off and takes the recovery codes with it.
pub async fn webauthn_keys_are_added_found_and_removed(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let password_only = fx.session(&a, NOW - 60).await;
    let first = key(&fx, &a, 0);
    fx.store
        .add_webauthn_key(
            first.clone(),
            Some(FirstMethod {
                default_method: Method::Webauthn,
                recovery_digests: fx.digests(8),
                keep_session: None,
            }),
        )
        .await
        .expect("add_webauthn_key failed");
    let u = fx.user_record(&a).await;
    assert!(u.two_step_enabled, "the first key turns two-step on");
    assert_eq!(u.default_method, Some(Method::Webauthn));
    assert_eq!(fx.codes_left(&a).await, 8);
    assert!(
        !fx.session_exists(&password_only.digest).await,
        "turning two-step on ends the sessions made with the password alone"
    );

    let mut second = key(&fx, &a, 0);
    second.created_at = NOW + 1;
    second.passkey = true;
    fx.store
        .add_webauthn_key(second.clone(), None)
        .await
        .expect("add_webauthn_key failed");
    let mut stolen = key(&fx, &b, 0);
    stolen.credential_id = first.credential_id.clone();
    expect_conflict(
        fx.store.add_webauthn_key(stolen, None).await,
        "a credential id registered to another account",
    );
    assert!(
        fx.store
            .webauthn_keys(&b)
            .await
            .expect("webauthn_keys failed")
            .is_empty(),
        "the refused key left nothing behind"
    );

    let keys = fx
        .store
        .webauthn_keys(&a)
        .await
        .expect("webauthn_keys failed");
    assert_eq!(keys, vec![first.clone(), second.clone()], "oldest first");
    assert_eq!(
        fx.store
            .webauthn_key_by_credential_id(&second.credential_id)
            .await
            .expect("webauthn_key_by_credential_id failed"),
        Some(second.clone())
    );

    assert!(
        !fx.store
            .delete_webauthn_key(&b, &first.id)
            .await
            .expect("delete_webauthn_key failed"),
        "another account's key is not removed"
    );
    assert!(
        fx.store
            .delete_webauthn_key(&a, &first.id)
            .await
            .expect("delete_webauthn_key failed")
    );
    assert!(
        fx.user_record(&a).await.two_step_enabled,
        "a key is left: two-step stays on"
    );
    assert!(
        fx.store
            .delete_webauthn_key(&a, &second.id)
            .await
            .expect("delete_webauthn_key failed")
    );
    let u = fx.user_record(&a).await;
    assert!(
        !u.two_step_enabled,
        "the last method went: two-step is none"
    );
    assert_eq!(u.default_method, None);
    assert_eq!(fx.codes_left(&a).await, 0, "recovery codes go with it");
}

/// A ceremony is taken once: the first take gets it, the next gets nothing; an expired one is
/// not handed out (and is gone); a new one replaces the old of its binding.
pub async fn webauthn_ceremony_is_taken_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let put = |c: WebauthnCeremony| {
        let store = fx.store.clone();
        async move {
            store
                .put_webauthn_ceremony(c)
                .await
                .expect("put_webauthn_ceremony failed");
        }
    };
    let take = |binding: &'static str, now: i64| {
        let store = fx.store.clone();
        async move {
            store
                .take_webauthn_ceremony(binding, now)
                .await
                .expect("take_webauthn_ceremony failed")
        }
    };
    put(ceremony("sign-in:aa", &a, NOW + 300)).await;
    let mut newer = ceremony("sign-in:aa", &a, NOW + 300);
    newer.state = "{\"newer\":true}".into();
    put(newer.clone()).await;
    assert_eq!(take("sign-in:aa", NOW).await, Some(newer), "the newest one");
    assert_eq!(take("sign-in:aa", NOW).await, None, "taken once");

    put(ceremony("register:x", &a, NOW + 10)).await;
    assert_eq!(take("register:x", NOW + 10).await, None, "expired");
    put(ceremony("register:x", &a, NOW + 10)).await;
    assert_eq!(take("register:y", NOW).await, None, "another binding");
    assert!(take("register:x", NOW).await.is_some());
    let mut nobody = ceremony("passkey:p", &a, NOW + 300);
    nobody.user_id = None;
    put(nobody.clone()).await;
    assert_eq!(
        take("passkey:p", NOW).await,
        Some(nobody),
        "a passkey sign-in's has no user"
    );
}

/// Eight takes of one ceremony at once: exactly one gets it.
pub async fn race_same_webauthn_ceremony_taken_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    fx.store
        .put_webauthn_ceremony(ceremony("sign-in:race", &a, NOW + 300))
        .await
        .expect("put_webauthn_ceremony failed");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_webauthn_ceremony("sign-in:race", NOW)
                .await
                .expect("take_webauthn_ceremony failed")
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.expect("a racing task panicked").is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one ceremony is taken exactly once");
}

/// A key's use settles only with a counter above the stored one (or 0 over 0: keys that never
/// count rely on the one-time ceremony); a refused use is a counted replay and keeps the key as
/// it was.
pub async fn security_key_use_needs_a_rising_counter(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let counting = key(&fx, &a, 3);
    let silent = key(&fx, &a, 0);
    for k in [&counting, &silent] {
        fx.store
            .add_webauthn_key(k.clone(), None)
            .await
            .expect("add_webauthn_key failed");
    }
    let used = |k: &WebauthnKey, counter: u32| Candidate::SecurityKey {
        key_id: k.id.clone(),
        counter,
        credential: format!("{{\"counter\":{counter}}}"),
    };
    assert_eq!(
        fx.settle_fresh(&a, NOW, used(&counting, 3), None).await,
        rejected(1, None, true),
        "the stored counter again is a replay"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW + 1, used(&counting, 2), None).await,
        rejected(2, None, true),
        "a lower counter is a replay (or a clone)"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW + 2, used(&counting, 7), None).await,
        Settled::Accepted {
            recovery_codes_left: None
        }
    );
    let keys = fx
        .store
        .webauthn_keys(&a)
        .await
        .expect("webauthn_keys failed");
    let now_counting = keys.iter().find(|k| k.id == counting.id).expect("the key");
    assert_eq!(now_counting.counter, 7);
    assert_eq!(now_counting.credential, "{\"counter\":7}");
    assert_eq!(now_counting.last_used_at, Some(NOW + 2));
    assert_eq!(fx.failures(&a).await, 0, "a use clears the failures");

    for at in [NOW + 3, NOW + 4] {
        assert_eq!(
            fx.settle_fresh(&a, at, used(&silent, 0), None).await,
            Settled::Accepted {
                recovery_codes_left: None
            },
            "a key that never counts is accepted at 0"
        );
    }
    let b = fx.user().await;
    assert_eq!(
        fx.settle_fresh(&b, NOW + 5, used(&silent, 9), None).await,
        rejected(1, None, true),
        "another account's key settles nothing"
    );
}
