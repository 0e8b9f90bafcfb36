//! Races across paths: one TOTP step and one recovery code fired at sign-in, the app API and
//! settings at once; one enrolment confirmed many times at once; recovery codes recreated while
//! old ones are being tried. (`tests/races.rs` covers one path at a time.)

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use super::support::*;

/// T08, V8: one valid code, sent at once on 20 fresh challenges and 20 app-API calls. Exactly one
/// request wins, across both paths; no second session is minted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_one_totp_step_through_sign_in_and_the_api_wins_once() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("race2@example.com").await;
    let key = api_key(&app, "race").await;
    let mut challenges = Vec::new();
    for _ in 0..20 {
        challenges.push(app.challenge(&user.email).await);
    }
    let sessions_before = Snapshot::take(&app).await.rows("sessions").len();
    let code = app.code(&user.secret);
    let answers = at_once(40, |i| {
        let (app, key, code, email) = (app.clone(), key.clone(), code.clone(), user.email.clone());
        let challenge = challenges.get(i).cloned();
        async move {
            match challenge {
                Some(c) => app.verify(&c, "totp", &code).await,
                None => app_verify(&app, &key, &email, &code).await,
            }
        }
    })
    .await;
    assert_no_5xx(&answers);
    let web_wins = answers[..20]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let api_wins = answers[20..]
        .iter()
        .filter(|r| r.json["valid"] == true)
        .count();
    assert_eq!(web_wins + api_wins, 1, "web {web_wins}, api {api_wins}");
    let sessions_after = Snapshot::take(&app).await.rows("sessions").len();
    assert_eq!(sessions_after - sessions_before, web_wins);
}

/// T13, V8 (artifact-keeper: 14 of 30 won): one recovery code, sent at once on 10 challenges,
/// 10 app-API calls and 10 settings step-ups (recreate the codes). Exactly one wins, and exactly
/// one code is marked used.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_one_recovery_code_through_sign_in_the_api_and_settings_wins_once() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("racerec@example.com").await;
    let key = api_key(&app, "racerec").await;
    let mut challenges = Vec::new();
    for _ in 0..10 {
        challenges.push(app.challenge(&user.email).await);
    }
    let code = user.recovery_codes[4].clone();
    let answers = at_once(30, |i| {
        let (app, key, code, email) = (app.clone(), key.clone(), code.clone(), user.email.clone());
        let challenge = challenges.get(i).cloned();
        let session = user.session.clone();
        async move {
            match (challenge, i) {
                (Some(c), _) => app.verify(&c, "recovery", &code).await,
                (None, 10..20) => app_verify(&app, &key, &email, &code).await,
                _ => {
                    app.post(
                        "/api/v1/me/recovery-codes",
                        Some(&session),
                        json!({"password": PASSWORD, "code": code}),
                    )
                    .await
                }
            }
        }
    })
    .await;
    assert_no_5xx(&answers);
    let wins = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK && r.json["valid"] != false)
        .count();
    assert_eq!(
        wins,
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let snap = Snapshot::take(&app).await;
    let used = snap
        .rows("recovery_codes")
        .iter()
        .filter(|r| !r.contains("used_at=NULL"))
        .count();
    let recreated = answers[20..].iter().any(|r| r.status == StatusCode::OK);
    if recreated {
        // The winner recreated the set: 8 fresh, unused codes and nothing else.
        assert_eq!((snap.rows("recovery_codes").len(), used), (8, 0));
    } else {
        assert_eq!((snap.rows("recovery_codes").len(), used), (8, 1));
    }
}

/// T15 ("races on one confirm"): 20 confirms of one pending enrolment at once, half with the code for
/// T and half for T+1. Exactly one turns two-step on and hands out recovery codes; the account
/// ends with one credential and exactly those 8 codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_confirms_of_one_enrolment_turns_it_on_once() {
    let app = Arc::new(TestApp::new().await);
    let session = app.signed_up("raceconfirm@example.com").await;
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    let codes = [code_at(&app, &secret, 0), code_at(&app, &secret, 1)];
    let answers = at_once(20, |i| {
        let (app, session, code) = (app.clone(), session.clone(), codes[i % 2].clone());
        async move {
            app.post(
                "/api/v1/me/totp/confirm",
                Some(&session),
                json!({"code": code}),
            )
            .await
        }
    })
    .await;
    assert_no_5xx(&answers);
    let winners: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for r in &answers {
        match r.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => assert_error(r, r.status, "invalid_code"),
            StatusCode::CONFLICT => assert_error(r, r.status, "conflict"),
            StatusCode::TOO_MANY_REQUESTS => assert_error(r, r.status, "rate_limited"),
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    let handed_out = winners[0].json["recovery_codes"].as_array().unwrap().len();
    assert_eq!(handed_out, 8);
    let snap = Snapshot::take(&app).await;
    assert_eq!(snap.rows("totp_credentials").len(), 1);
    assert!(!snap.rows("totp_credentials")[0].contains("confirmed_at=NULL"));
    assert_eq!(snap.rows("recovery_codes").len(), 8);
    // And the codes handed out are the ones that work (once the delay earned by the losing
    // replays has run out).
    app.advance(3600);
    let key = api_key(&app, "confirm").await;
    let first = winners[0].json["recovery_codes"][0].as_str().unwrap();
    let r = app_verify(&app, &key, "raceconfirm@example.com", first).await;
    assert_eq!(r.json, json!({"valid": true, "method": "recovery"}));
}

/// T14: the codes are recreated (step-up with a TOTP code) while seven other old codes are tried
/// through the app API at the same moment. Each old code wins at most once; once the recreation
/// has answered, every old code is refused; the new set is whole and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_recreation_against_old_recovery_codes_leaves_no_old_code_alive() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("racerecreate@example.com").await;
    let key = api_key(&app, "recreate").await;
    let step_up = app.code(&user.secret);
    let old = user.recovery_codes.clone();
    // Distinct codes: no racer replays another's, so no failure is counted before the
    // recreation has passed its own throttle check.
    let answers = at_once(8, |i| {
        let (app, key, email) = (app.clone(), key.clone(), user.email.clone());
        let (session, step_up, old) = (user.session.clone(), step_up.clone(), old.clone());
        async move {
            if i == 0 {
                app.post(
                    "/api/v1/me/recovery-codes",
                    Some(&session),
                    json!({"password": PASSWORD, "code": step_up}),
                )
                .await
            } else {
                app_verify(&app, &key, &email, &old[i]).await
            }
        }
    })
    .await;
    assert_no_5xx(&answers);
    assert_eq!(answers[0].status, StatusCode::OK, "{}", answers[0].text);
    let new: Vec<String> = answers[0].json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for r in &answers[1..] {
        assert!(
            r.json["valid"] == true || r.json == json!({"valid": false, "reason": "invalid_code"}),
            "{}",
            r.text
        );
    }

    // After the recreation answered: every old code is dead (one try per hour: each counts).
    for code in &old[..4] {
        app.advance(4000);
        let r = app_verify(&app, &key, &user.email, code).await;
        assert_eq!(
            r.json,
            json!({"valid": false, "reason": "invalid_code"}),
            "{code}"
        );
    }
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert_eq!(overview.recovery_codes_left, 8, "the new set is whole");
    let snap = Snapshot::take(&app).await;
    assert_eq!(
        snap.rows("recovery_codes").len(),
        8,
        "nothing of the old set is left"
    );
    app.advance(4000);
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "recovery", &new[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
