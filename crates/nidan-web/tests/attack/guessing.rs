//! Guessing codes: within one challenge, across fresh challenges, across the app API and the
//! settings calls, in parallel, and past the hard lock. The numbers asserted here are the ones
//! `docs/security.md` publishes.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use nidan_domain::ThrottlePolicy;
use nidan_service::Policy;
use serde_json::json;

use super::support::*;

/// T05 (phase A), V3/V4: re-login after every wrong code. The sixth guess, on a brand-new
/// challenge, is already delayed; the delay doubles from 30 s and is capped at one hour; a
/// delayed attempt evaluates nothing and changes nothing.
#[tokio::test]
async fn guessing_totp_across_fresh_challenges_hits_the_account_throttle() {
    let app = TestApp::new().await;
    let user = app.enrolled("quake@example.com").await;
    for i in 0..5 {
        let c = app.challenge(&user.email).await;
        let r = app
            .verify(&c, "totp", &wrong_code_at(app.now(), &user.secret, i))
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
        assert_eq!(
            r.json["error"]["attempts_left"], 4,
            "one guess per challenge"
        );
    }
    assert_eq!(failures(&app, &user.email).await, 5);

    let mut waits = Vec::new();
    for round in 0..9 {
        let c = app.challenge(&user.email).await;
        let before = Snapshot::take(&app).await;
        // Even the right code is refused while the delay runs: nothing is evaluated.
        let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
        assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let wait: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(r.json["error"]["retry_after"], wait);
        assert_unchanged(&before, &Snapshot::take(&app).await, "a delayed attempt");
        waits.push(wait);
        // One second short of the delay is still refused.
        app.advance(wait - 1);
        let c = app.challenge(&user.email).await;
        let r = app
            .verify(&c, "totp", &wrong_code(&app, &user.secret))
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "round {round}");
        assert_eq!(r.headers["retry-after"], "1");
        app.advance(1);
        let r = app
            .verify(&c, "totp", &wrong_code_at(app.now(), &user.secret, round))
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    }
    assert_eq!(
        waits,
        [30, 60, 120, 240, 480, 960, 1920, 3600, 3600],
        "doubling from 30 s, capped at 1 h; re-login never resets it"
    );
    assert_eq!(failures(&app, &user.email).await, 14);
}

/// T05 with the published numbers: an attacker who guesses as fast as the server allows (the
/// test clock jumps to the end of every delay) gets exactly 11 guesses in the first hour, 34 in
/// the first day, and 100 in total before the second factor locks, after about four days.
#[tokio::test]
async fn guessing_as_fast_as_allowed_gets_11_guesses_an_hour_34_a_day_and_100_in_all() {
    let app = TestApp::new().await;
    let user = app.enrolled("patient@example.com").await;
    let key = api_key(&app, "attacker").await;
    let start = app.now();
    let mut guesses_at = Vec::new();
    loop {
        let r = app_verify(&app, &key, &user.email, &wrong_code(&app, &user.secret)).await;
        match r.status {
            StatusCode::OK => {
                assert_eq!(r.json, json!({"valid": false, "reason": "invalid_code"}));
                guesses_at.push(app.now() - start);
            }
            StatusCode::TOO_MANY_REQUESTS if r.json["error"]["locked"] == true => break,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                app.advance(wait);
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
        assert!(guesses_at.len() <= 100, "more than 100 guesses evaluated");
    }
    let within = |secs: i64| guesses_at.iter().filter(|t| **t < secs).count();
    assert_eq!(
        within(3600),
        11,
        "guesses in the first hour: {guesses_at:?}"
    );
    assert_eq!(within(86_400), 34, "guesses in the first day");
    assert_eq!(guesses_at.len(), 100, "guesses in total before the lock");
    let days = *guesses_at.last().unwrap() as f64 / 86_400.0;
    assert!(
        (3.5..4.5).contains(&days),
        "the 100th guess after {days:.2} days"
    );
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert!(overview.locked);
    assert_eq!(
        overview.recovery_codes_left, 8,
        "no recovery code was burned"
    );
}

/// T12, V6: wrong recovery codes and wrong TOTP codes, over fresh challenges, share one count:
/// after five of any mix, every method is delayed, and no recovery code was used up.
#[tokio::test]
async fn guessing_recovery_codes_across_fresh_challenges_shares_the_totp_throttle() {
    let app = TestApp::new().await;
    let user = app.enrolled("mixed@example.com").await;
    for i in 0..5 {
        let c = app.challenge(&user.email).await;
        let r = if i % 2 == 0 {
            app.verify(&c, "recovery", &wrong_recovery_code(&user, i))
                .await
        } else {
            app.verify(&c, "totp", &wrong_code_at(app.now(), &user.secret, i))
                .await
        };
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    }
    let before = Snapshot::take(&app).await;
    let c = app.challenge(&user.email).await;
    for (method, code) in [
        ("recovery", user.recovery_codes[0].clone()),
        ("totp", app.code(&user.secret)),
    ] {
        let r = app.verify(&c, method, &code).await;
        assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert_eq!(r.headers["retry-after"], "30");
    }
    assert_unchanged(
        &before.without(&["challenges"]),
        &Snapshot::take(&app).await.without(&["challenges"]),
        "delayed right codes",
    );
    assert_eq!(failures(&app, &user.email).await, 5);
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert_eq!(overview.recovery_codes_left, 8);
}

/// T05/T27/T16, V9: the attacker spreads guesses over sign-in, the app API and a settings call
/// (step-up) to find a path with its own count. There is one count: after five guesses in all,
/// every path is delayed, and the settings change did not happen.
#[tokio::test]
async fn guessing_through_sign_in_the_app_api_and_settings_in_turn_is_one_count() {
    let app = TestApp::new().await;
    let user = app.enrolled("spread@example.com").await;
    let key = api_key(&app, "spread").await;
    for i in 0..5 {
        let wrong = wrong_code_at(app.now(), &user.secret, i);
        match i % 3 {
            0 => {
                let c = app.challenge(&user.email).await;
                let r = app.verify(&c, "totp", &wrong).await;
                assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
            }
            1 => {
                let r = app_verify(&app, &key, &user.email, &wrong).await;
                assert_eq!(r.json, json!({"valid": false, "reason": "invalid_code"}));
            }
            _ => {
                let r = app
                    .post(
                        "/api/v1/me/two-step",
                        Some(&user.session),
                        json!({"password": PASSWORD, "code": wrong, "state": "off"}),
                    )
                    .await;
                assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
            }
        }
        assert_eq!(failures(&app, &user.email).await, i as u32 + 1);
    }
    let before = Snapshot::take(&app).await;
    let right = app.code(&user.secret);
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "totp", &right).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let r = app_verify(&app, &key, &user.email, &right).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": right, "state": "off"}),
        )
        .await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_unchanged(
        &before.without(&["challenges"]),
        &Snapshot::take(&app).await.without(&["challenges"]),
        "delayed attempts on every path",
    );
    let me = app.get("/api/v1/me", &user.session).await;
    assert_eq!(me.json["two_step"]["state"], "on");
}

/// T06: 100 wrong codes fired at one challenge at once. At most five are evaluated (the challenge
/// and the account both stop there); the rest get 429 or 410; the stored count matches the
/// number of `invalid_code` answers exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guessing_in_parallel_on_one_challenge_evaluates_at_most_five() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("flood@example.com").await;
    let c = app.challenge(&user.email).await;
    let now = app.now();
    let answers = at_once(100, |i| {
        let (app, c) = (app.clone(), c.clone());
        let code = wrong_code_at(now, &user.secret, i);
        async move { app.verify(&c, "totp", &code).await }
    })
    .await;
    assert_no_5xx(&answers);
    let evaluated = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    for r in &answers {
        match r.status {
            StatusCode::UNAUTHORIZED => assert_error(r, r.status, "invalid_code"),
            StatusCode::TOO_MANY_REQUESTS => assert_error(r, r.status, "rate_limited"),
            StatusCode::GONE => assert_error(r, r.status, "challenge_expired"),
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert!(
        (1..=5).contains(&evaluated),
        "{evaluated} guesses evaluated"
    );
    assert_eq!(failures(&app, &user.email).await as usize, evaluated);
    let snap = Snapshot::take(&app).await;
    let row = &snap.rows("challenges")[0];
    assert!(row.contains(&format!("attempts={evaluated}")), "{row}");
}

/// T06 through the app API: 100 wrong codes for one user at once. Exactly five are evaluated
/// (the throttle decision and the count are settled in one transaction); the rest are 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guessing_in_parallel_through_the_app_api_evaluates_only_what_the_throttle_allows() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("apiflood@example.com").await;
    let key = api_key(&app, "flood").await;
    let now = app.now();
    let answers = at_once(100, |i| {
        let (app, key, email) = (app.clone(), key.clone(), user.email.clone());
        let code = wrong_code_at(now, &user.secret, i);
        async move { app_verify(&app, &key, &email, &code).await }
    })
    .await;
    assert_no_5xx(&answers);
    let evaluated = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .inspect(|r| assert_eq!(r.json, json!({"valid": false, "reason": "invalid_code"})))
        .count();
    let throttled = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((evaluated, throttled), (5, 95));
    assert_eq!(failures(&app, &user.email).await, 5);
}

/// T05 (phase B) across paths: with the delays compressed, an attacker alternating sign-in and
/// the app API reaches the hard lock after exactly 100 evaluated guesses in all; then the right
/// TOTP code is refused on sign-in, the app API and settings alike, and only a recovery code
/// (at most one per capped delay) gets through.
#[tokio::test]
async fn guessing_past_the_hard_lock_on_any_path_is_refused_even_with_the_right_code() {
    let policy = Policy {
        throttle: ThrottlePolicy {
            free_failures: 5,
            base_delay_secs: 1,
            max_delay_secs: 2,
            lock_at: 100,
        },
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    let user = app.enrolled("locked@example.com").await;
    let key = api_key(&app, "locker").await;
    let c = app.challenge(&user.email).await;
    let mut evaluated = 0;
    let mut challenge = c;
    let mut on_challenge = 0;
    for i in 0..200 {
        app.advance(2);
        let wrong = wrong_code_at(app.now(), &user.secret, i);
        let r = if i % 2 == 0 {
            if on_challenge == 5 {
                challenge = app.challenge(&user.email).await;
                on_challenge = 0;
            }
            let r = app.verify(&challenge, "totp", &wrong).await;
            if r.status == StatusCode::UNAUTHORIZED {
                on_challenge += 1;
            }
            r
        } else {
            app_verify(&app, &key, &user.email, &wrong).await
        };
        match r.status {
            StatusCode::OK | StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.json["error"]["locked"], true, "{}", r.text);
                break;
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert_eq!(evaluated, 100);
    assert_eq!(failures(&app, &user.email).await, 100);

    app.advance(30);
    let before = Snapshot::take(&app).await;
    let right = app.code(&user.secret);
    let c = app.challenge(&user.email).await;
    for r in [
        app.verify(&c, "totp", &right).await,
        app_verify(&app, &key, &user.email, &right).await,
        app.post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": right, "state": "off"}),
        )
        .await,
        app.call(
            Method::DELETE,
            "/api/v1/me/two-step",
            Some(&user.session),
            Some(json!({"password": PASSWORD, "code": right})),
        )
        .await,
    ] {
        assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert_eq!(r.json["error"]["locked"], true);
    }
    assert_unchanged(
        &before.without(&["challenges", "sessions"]),
        &Snapshot::take(&app)
            .await
            .without(&["challenges", "sessions"]),
        "the right code on a locked account",
    );

    // A wrong recovery code is one guess per capped delay, no more.
    let r = app
        .verify(&c, "recovery", &wrong_recovery_code(&user, 1))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    let r = app.verify(&c, "recovery", &user.recovery_codes[0]).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(r.json["error"]["locked"], true);
    app.advance(2);
    let r = app.verify(&c, "recovery", &user.recovery_codes[0]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a recovery code unlocks: {}",
        r.text
    );
    assert_eq!(failures(&app, &user.email).await, 0);
}

/// T04: a sixth code on a challenge that took five wrong ones is not evaluated, counts nothing,
/// and changes nothing — whether it is wrong, right, or a recovery code.
#[tokio::test]
async fn guessing_on_a_dead_challenge_evaluates_and_changes_nothing() {
    let app = TestApp::new().await;
    let user = app.enrolled("dead@example.com").await;
    let c = app.challenge(&user.email).await;
    for i in 0..5 {
        let r = app
            .verify(&c, "totp", &wrong_code_at(app.now(), &user.secret, i))
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    }
    app.advance(3600);
    let before = Snapshot::take(&app).await;
    for (method, code) in [
        ("totp", wrong_code(&app, &user.secret)),
        ("totp", app.code(&user.secret)),
        ("recovery", user.recovery_codes[0].clone()),
    ] {
        let r = app.verify(&c, method, &code).await;
        assert_error(&r, StatusCode::GONE, "challenge_expired");
    }
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "codes on a dead challenge",
    );
    assert_eq!(failures(&app, &user.email).await, 5);
}
