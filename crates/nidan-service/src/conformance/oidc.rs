//! The OpenID Connect provider's storage: clients, signing keys, and the one-time uses of
//! authorization codes and refresh tokens (with what a second use revokes).

use std::sync::Arc;

use nidan_domain::{Method, SecondStep};

use super::fixture::{Fixture, NOW, expect_conflict};
use crate::UserId;
use crate::ports::{
    AuthCode, OidcApp, OidcClient, OidcToken, Redeemed, SigningKey, Store, TokenKind, code_family,
};

fn client(id: &str) -> OidcClient {
    OidcClient {
        id: id.into(),
        secret_digest: Some([7; 32]),
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1:9/cb".into(),
        ],
        first_party: false,
        id_token_alg: "RS256".into(),
        created_at: NOW,
    }
}

fn code(fx: &Fixture, client: &str, user: &UserId, at: i64) -> AuthCode {
    AuthCode {
        digest: fx.digest(),
        client_id: client.into(),
        user_id: user.clone(),
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        scope: "openid email".into(),
        auth_time: at - 5,
        second_step: Some(SecondStep::Method(Method::Totp)),
        created_at: at,
        expires_at: at + 60,
    }
}

fn token(fx: &Fixture, kind: TokenKind, client: &str, user: &UserId, family: &str) -> OidcToken {
    OidcToken {
        digest: fx.digest(),
        kind,
        client_id: client.into(),
        user_id: user.clone(),
        scope: "openid offline_access".into(),
        family: family.into(),
        auth_time: NOW - 5,
        second_step: Some(SecondStep::Device),
        created_at: NOW,
        expires_at: NOW + 900,
    }
}

/// A user, and a client registered as `id`.
async fn with_client(fx: &Fixture, id: &str) -> UserId {
    fx.store
        .create_oidc_client(client(id))
        .await
        .expect("create_oidc_client failed");
    fx.user().await
}

async fn exists(fx: &Fixture, digest: &[u8; 32]) -> bool {
    fx.store
        .oidc_token(digest)
        .await
        .expect("oidc_token failed")
        .is_some()
}

/// Clients are stored as given, listed by id, unique, and removed with their codes and tokens;
/// signing keys are listed newest first and adding keys retires the ones in use.
pub async fn oidc_clients_and_keys(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let mut public = client("spa");
    public.secret_digest = None;
    public.first_party = true;
    public.id_token_alg = "EdDSA".into();
    for c in [client("grafana"), public.clone()] {
        fx.store
            .create_oidc_client(c)
            .await
            .expect("create_oidc_client failed");
    }
    expect_conflict(
        fx.store.create_oidc_client(client("grafana")).await,
        "a second client with the same id",
    );
    assert_eq!(
        fx.store
            .oidc_client("spa")
            .await
            .expect("oidc_client failed"),
        Some(public),
        "a client reads back as stored"
    );
    let ids: Vec<String> = fx
        .store
        .list_oidc_clients()
        .await
        .expect("list_oidc_clients failed")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["grafana", "spa"]);

    let c = code(&fx, "grafana", &user, NOW);
    fx.store
        .create_auth_code(c.clone())
        .await
        .expect("create_auth_code failed");
    let t = token(&fx, TokenKind::Access, "grafana", &user, "f1");
    fx.store
        .issue_oidc_tokens(vec![t.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    assert!(
        fx.store
            .delete_oidc_client("grafana")
            .await
            .expect("delete_oidc_client failed")
    );
    assert!(
        !exists(&fx, &t.digest).await,
        "a removed client's tokens go"
    );
    assert_eq!(
        fx.store
            .redeem_auth_code(&c.digest, "grafana", NOW)
            .await
            .expect("redeem_auth_code failed"),
        Redeemed::Invalid,
        "a removed client's codes go"
    );
    assert!(
        !fx.store
            .delete_oidc_client("grafana")
            .await
            .expect("delete_oidc_client failed"),
        "removing it again finds nothing"
    );

    let key = |kid: &str, at: i64| SigningKey {
        kid: kid.into(),
        alg: "RS256".into(),
        sealed: vec![1, 2, 3],
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: at,
        retired_at: None,
    };
    assert!(
        fx.store
            .first_signing_keys(vec![key("k1", NOW - 100)])
            .await
            .expect("first_signing_keys failed"),
        "the first keys are stored"
    );
    assert!(
        !fx.store
            .first_signing_keys(vec![key("k0", NOW - 99)])
            .await
            .expect("first_signing_keys failed"),
        "keys made at the same time by someone else are dropped"
    );
    fx.store
        .put_signing_keys(vec![key("k2", NOW)], NOW)
        .await
        .expect("put_signing_keys failed");
    let keys = fx.store.signing_keys().await.expect("signing_keys failed");
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.retired_at))
            .collect::<Vec<_>>(),
        [("k2", None), ("k1", Some(NOW))],
        "newest first; the older key retired when the newer came"
    );
}

/// A code is used once, by its client, within its lifetime; a second use revokes every token
/// issued from it.
pub async fn oidc_code_works_once_and_a_replay_revokes_its_tokens(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    for id in ["grafana", "other"] {
        fx.store
            .create_oidc_client(client(id))
            .await
            .expect("create_oidc_client failed");
    }
    let c = code(&fx, "grafana", &user, NOW);
    fx.store
        .create_auth_code(c.clone())
        .await
        .expect("create_auth_code failed");
    let redeem = |client: &'static str, at: i64| {
        let store = fx.store.clone();
        let digest = c.digest;
        async move {
            store
                .redeem_auth_code(&digest, client, at)
                .await
                .expect("redeem_auth_code failed")
        }
    };
    assert_eq!(
        redeem("other", NOW + 1).await,
        Redeemed::Invalid,
        "another client's code"
    );
    assert_eq!(
        redeem("grafana", NOW + 1).await,
        Redeemed::First(c.clone()),
        "first use"
    );

    let family = code_family(&c.digest);
    let access = token(&fx, TokenKind::Access, "grafana", &user, &family);
    let unrelated = token(&fx, TokenKind::Access, "grafana", &user, "another-family");
    fx.store
        .issue_oidc_tokens(vec![access.clone(), unrelated.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    assert_eq!(
        redeem("grafana", NOW + 2).await,
        Redeemed::Again,
        "second use"
    );
    assert!(
        !exists(&fx, &access.digest).await,
        "the replay revokes the code's tokens"
    );
    assert!(exists(&fx, &unrelated.digest).await, "and nothing else");

    let late = code(&fx, "grafana", &user, NOW);
    fx.store
        .create_auth_code(late.clone())
        .await
        .expect("create_auth_code failed");
    assert_eq!(
        fx.store
            .redeem_auth_code(&late.digest, "grafana", NOW + 60)
            .await
            .expect("redeem_auth_code failed"),
        Redeemed::Invalid,
        "an expired code"
    );
}

/// A refresh token is used once and its successors stored with it; a reused one revokes its
/// family; revocation takes a refresh token's family with it, an access token alone.
pub async fn oidc_refresh_rotates_and_reuse_revokes_the_family(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = with_client(&fx, "grafana").await;
    let first = token(&fx, TokenKind::Refresh, "grafana", &user, "fam");
    let access = token(&fx, TokenKind::Access, "grafana", &user, "fam");
    fx.store
        .issue_oidc_tokens(vec![first.clone(), access.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    let found = fx
        .store
        .oidc_token(&access.digest)
        .await
        .expect("oidc_token failed");
    assert_eq!(found, Some(access.clone()), "a token reads back as stored");

    let next = token(&fx, TokenKind::Refresh, "grafana", &user, "fam");
    let rotated = fx
        .store
        .rotate_refresh_token(&first.digest, "grafana", NOW + 1, vec![next.clone()])
        .await
        .expect("rotate_refresh_token failed");
    assert_eq!(rotated, Redeemed::First(first.clone()));
    assert!(exists(&fx, &next.digest).await, "the successor is stored");
    // An access token is not a refresh token, and another client cannot rotate.
    let wrong = token(&fx, TokenKind::Refresh, "grafana", &user, "fam");
    for (digest, client) in [(access.digest, "grafana"), (next.digest, "other")] {
        assert_eq!(
            fx.store
                .rotate_refresh_token(&digest, client, NOW + 2, vec![wrong.clone()])
                .await
                .expect("rotate_refresh_token failed"),
            Redeemed::Invalid
        );
    }
    assert!(
        !exists(&fx, &wrong.digest).await,
        "a refused rotation stores nothing"
    );

    // The old one again: the family goes.
    let third = token(&fx, TokenKind::Refresh, "grafana", &user, "fam");
    assert_eq!(
        fx.store
            .rotate_refresh_token(&first.digest, "grafana", NOW + 3, vec![third.clone()])
            .await
            .expect("rotate_refresh_token failed"),
        Redeemed::Again
    );
    for t in [&next, &access, &third] {
        assert!(
            !exists(&fx, &t.digest).await,
            "reuse revokes the whole family"
        );
    }

    let r = token(&fx, TokenKind::Refresh, "grafana", &user, "fam2");
    let a = token(&fx, TokenKind::Access, "grafana", &user, "fam2");
    let b = token(&fx, TokenKind::Access, "grafana", &user, "fam2");
    fx.store
        .issue_oidc_tokens(vec![r.clone(), a.clone(), b.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    let revoke = |digest: [u8; 32], client: &'static str| {
        let store = fx.store.clone();
        async move {
            store
                .revoke_oidc_token(&digest, client)
                .await
                .expect("revoke_oidc_token failed")
        }
    };
    assert!(
        !revoke(a.digest, "other").await,
        "only the token's own client revokes it"
    );
    assert!(revoke(a.digest, "grafana").await);
    assert!(!exists(&fx, &a.digest).await && exists(&fx, &b.digest).await);
    assert!(revoke(r.digest, "grafana").await);
    assert!(
        !exists(&fx, &b.digest).await,
        "a refresh token takes its family along"
    );
}

/// Racing redemptions of one code, on any number of connections or nodes: exactly one wins.
pub async fn race_same_oidc_code_redeemed_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = with_client(&fx, "grafana").await;
    let c = code(&fx, "grafana", &user, NOW);
    fx.store
        .create_auth_code(c.clone())
        .await
        .expect("create_auth_code failed");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = fx.store.clone();
        let digest = c.digest;
        tasks.push(tokio::spawn(async move {
            store
                .redeem_auth_code(&digest, "grafana", NOW + 1)
                .await
                .expect("redeem_auth_code failed")
        }));
    }
    let mut won = 0;
    for t in tasks {
        if matches!(t.await.expect("a racing task panicked"), Redeemed::First(_)) {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one code is redeemed exactly once");
}

/// For the retention check: an expired code and token, and a live token (its digest second);
/// answers the expired token's digest and the live one's.
pub(super) async fn expired_and_live_tokens(fx: &Fixture, user: &UserId) -> ([u8; 32], [u8; 32]) {
    fx.store
        .create_oidc_client(client("kept"))
        .await
        .expect("create_oidc_client failed");
    fx.store
        .create_auth_code(code(fx, "kept", user, NOW - 120))
        .await
        .expect("create_auth_code failed");
    let mut spent = token(fx, TokenKind::Access, "kept", user, "f");
    spent.expires_at = NOW - 1;
    let live = token(fx, TokenKind::Refresh, "kept", user, "f");
    fx.store
        .issue_oidc_tokens(vec![spent.clone(), live.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    (spent.digest, live.digest)
}

/// The apps a user signed in to: the allowed scope changes only with a new consent, the list is
/// most recently used first and the user's own, and removing an app revokes its tokens for that
/// user only.
pub async fn oidc_apps_keep_consent_and_removal_revokes_tokens(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = with_client(&fx, "grafana").await;
    let other = fx.user().await;
    fx.store
        .create_oidc_client(client("wiki"))
        .await
        .expect("create_oidc_client failed");
    let record = |who: &UserId, id: &str, scope: &str, consented: Option<i64>, at: i64| {
        let store = fx.store.clone();
        let (who, app) = (
            who.clone(),
            OidcApp {
                client_id: id.into(),
                scope: scope.into(),
                consented_at: consented,
                last_used_at: at,
            },
        );
        async move {
            store
                .record_oidc_app(&who, app)
                .await
                .expect("record_oidc_app failed")
        }
    };
    record(
        &user,
        "grafana",
        "openid email groups",
        Some(NOW - 10),
        NOW - 10,
    )
    .await;
    // A later sign-in without consent keeps what was allowed, and when.
    record(&user, "grafana", "openid", None, NOW - 5).await;
    record(&user, "wiki", "openid", None, NOW - 1).await;
    record(&other, "grafana", "openid", Some(NOW), NOW).await;
    let app = fx
        .store
        .oidc_app(&user, "grafana")
        .await
        .expect("oidc_app failed")
        .expect("the app is recorded");
    assert_eq!(
        (app.scope.as_str(), app.consented_at, app.last_used_at),
        ("openid email groups", Some(NOW - 10), NOW - 5)
    );
    // A new consent replaces the allowed scope.
    record(&user, "grafana", "openid email", Some(NOW - 3), NOW - 3).await;
    let apps = fx.store.oidc_apps(&user).await.expect("oidc_apps failed");
    assert_eq!(
        apps.iter()
            .map(|a| (a.client_id.as_str(), a.scope.as_str()))
            .collect::<Vec<_>>(),
        [("wiki", "openid"), ("grafana", "openid email")],
        "most recently used first, the user's own only"
    );

    let mine = token(&fx, TokenKind::Refresh, "grafana", &user, "f");
    let theirs = token(&fx, TokenKind::Access, "grafana", &other, "g");
    fx.store
        .issue_oidc_tokens(vec![mine.clone(), theirs.clone()])
        .await
        .expect("issue_oidc_tokens failed");
    assert!(
        fx.store
            .remove_oidc_app(&user, "grafana")
            .await
            .expect("remove_oidc_app failed")
    );
    assert!(
        !exists(&fx, &mine.digest).await,
        "the app's tokens for the user go"
    );
    assert!(exists(&fx, &theirs.digest).await, "another user's stay");
    assert!(
        fx.store
            .oidc_app(&user, "grafana")
            .await
            .expect("oidc_app failed")
            .is_none()
    );
    assert!(
        !fx.store
            .remove_oidc_app(&user, "grafana")
            .await
            .expect("remove_oidc_app failed"),
        "removing it again finds nothing"
    );
}
