//! The account's own life: password changes and reset links, the sign-in email, deletion.

use std::sync::Arc;

use super::fixture::{Fixture, NOW, expect_conflict};
use crate::UserId;
use crate::courier::Locale;
use crate::ports::{NewActivity, NewNotice, PasswordReset, Purge, Store};

const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$new$new";

fn reset(fx: &Fixture, user: &UserId, at: i64) -> PasswordReset {
    PasswordReset {
        digest: fx.digest(),
        user_id: user.clone(),
        created_at: at,
        expires_at: at + 1800,
        used_at: None,
        ip: "192.0.2.10".into(),
    }
}

fn notice(user: &UserId, kind: &str, to: Option<(&str, Locale)>) -> NewNotice {
    NewNotice {
        user_id: user.clone(),
        to: to.map(|(e, l)| (e.to_owned(), l)),
        kind: kind.to_owned(),
        at: NOW,
        ip: None,
        user_agent: None,
        country: None,
    }
}

/// Appends a successful sign-in to `user`'s history at `at`.
async fn sign_in_line(fx: &Fixture, user: &UserId, at: i64) {
    fx.store
        .append_activity(NewActivity {
            user_id: user.clone(),
            at,
            kind: "sign_in",
            method: None,
            result: "success",
            ip: "192.0.2.10".into(),
            user_agent: "conformance/1.0".into(),
            detail: None,
            country: None,
        })
        .await
        .expect("append_activity failed");
}

/// A new password ends every session but the one kept, forgets every remembered device and
/// kills every unused reset link.
pub async fn password_change_ends_sessions_devices_and_reset_links(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let (credential, _) = fx.enrolled(&user, 2).await;
    let keep = fx.session(&user, NOW).await;
    let other = fx.session(&user, NOW).await;
    let device = fx.device(&user, &credential, NOW).await;
    let link = reset(&fx, &user, NOW);
    assert!(
        fx.store
            .create_password_reset(link.clone(), 3)
            .await
            .expect("create_password_reset failed"),
        "a first reset link is stored"
    );
    fx.store
        .set_password_hash(&user, Some(NEW_HASH.into()), Some(&keep.record.id))
        .await
        .expect("set_password_hash failed");
    assert_eq!(
        fx.user_record(&user).await.password_hash.as_deref(),
        Some(NEW_HASH),
        "set_password_hash stores the hash"
    );
    assert!(
        fx.session_exists(&keep.digest).await,
        "the session that changed the password stays"
    );
    assert!(
        !fx.session_exists(&other.digest).await,
        "every other session ends with a new password"
    );
    assert!(
        !fx.device_exists(&device.digest).await,
        "remembered devices are forgotten with a new password"
    );
    assert_eq!(
        fx.store
            .reset_password(&link.digest, NOW + 1, "$argon2id$late".into())
            .await
            .expect("reset_password failed"),
        None,
        "a reset link asked for before a password change no longer works"
    );
}

/// A reset link works once, before it expires, and only the newest of an account's links
/// works; using it sets the password and ends every session.
pub async fn reset_link_works_once_newest_only_until_it_expires(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let session = fx.session(&user, NOW).await;
    let first = reset(&fx, &user, NOW);
    let second = reset(&fx, &user, NOW + 60);
    for r in [&first, &second] {
        assert!(
            fx.store
                .create_password_reset(r.clone(), 3)
                .await
                .expect("create_password_reset failed"),
            "reset links under the hourly cap are stored"
        );
    }
    let read = fx
        .store
        .password_reset(&second.digest)
        .await
        .expect("password_reset failed")
        .expect("a stored reset link is found by its digest");
    assert_eq!(read, second, "a reset link reads back as stored");
    assert_eq!(
        fx.store
            .reset_password(&first.digest, NOW + 120, NEW_HASH.into())
            .await
            .expect("reset_password failed"),
        None,
        "an older link stops working when a newer one is asked for"
    );
    assert_eq!(
        fx.store
            .reset_password(&second.digest, NOW + 120, NEW_HASH.into())
            .await
            .expect("reset_password failed"),
        Some(user.clone()),
        "the newest unused, unexpired link works"
    );
    assert_eq!(
        fx.user_record(&user).await.password_hash.as_deref(),
        Some(NEW_HASH),
        "the link sets the password"
    );
    assert!(
        !fx.session_exists(&session.digest).await,
        "a reset ends every session"
    );
    assert_eq!(
        fx.store
            .reset_password(&second.digest, NOW + 121, "$argon2id$again".into())
            .await
            .expect("reset_password failed"),
        None,
        "a link works once"
    );
    let used = fx
        .store
        .password_reset(&second.digest)
        .await
        .expect("password_reset failed")
        .expect("a used link is still found");
    assert_eq!(used.used_at, Some(NOW + 120), "a used link records when");

    let late = reset(&fx, &user, NOW + 7200);
    assert!(
        fx.store
            .create_password_reset(late.clone(), 3)
            .await
            .expect("create_password_reset failed")
    );
    assert_eq!(
        fx.store
            .reset_password(&late.digest, late.expires_at, "$argon2id$late".into())
            .await
            .expect("reset_password failed"),
        None,
        "a link does not work at its expiry"
    );
    fx.store
        .discard_password_reset(&late.digest)
        .await
        .expect("discard_password_reset failed");
    assert!(
        fx.store
            .password_reset(&late.digest)
            .await
            .expect("password_reset failed")
            .is_none(),
        "a discarded link is gone"
    );
}

/// At most `max_per_hour` links an hour for one account; a refused one is not stored.
pub async fn reset_links_are_capped_per_account_and_hour(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let other = fx.user().await;
    for i in 0..3 {
        assert!(
            fx.store
                .create_password_reset(reset(&fx, &user, NOW + i), 3)
                .await
                .expect("create_password_reset failed"),
            "link {i} is under the cap"
        );
    }
    let refused = reset(&fx, &user, NOW + 10);
    assert!(
        !fx.store
            .create_password_reset(refused.clone(), 3)
            .await
            .expect("create_password_reset failed"),
        "the fourth link within the hour is refused"
    );
    assert!(
        fx.store
            .password_reset(&refused.digest)
            .await
            .expect("password_reset failed")
            .is_none(),
        "a refused link is not stored"
    );
    assert!(
        fx.store
            .create_password_reset(reset(&fx, &other, NOW + 10), 3)
            .await
            .expect("create_password_reset failed"),
        "the cap is the account's own"
    );
    assert!(
        fx.store
            .create_password_reset(reset(&fx, &user, NOW + 3601), 3)
            .await
            .expect("create_password_reset failed"),
        "an hour later links may be asked for again"
    );
}

/// Of parallel uses of one reset link, exactly one sets the password.
pub async fn race_same_reset_link_used_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let link = reset(&fx, &user, NOW);
    assert!(
        fx.store
            .create_password_reset(link.clone(), 3)
            .await
            .expect("create_password_reset failed")
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = fx.store.clone();
        let digest = link.digest;
        tasks.push(tokio::spawn(async move {
            store
                .reset_password(&digest, NOW + 1, format!("$argon2id$racer{i}"))
                .await
                .expect("reset_password failed")
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.expect("a racing task panicked").is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one reset link sets the password exactly once");
}

/// The sign-in email changes; another account's email is `Conflict` and changes nothing.
pub async fn set_email_changes_the_sign_in_email_and_refuses_a_taken_one(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let other = fx.user().await;
    let taken = fx.user_record(&other).await.email;
    let before = fx.user_record(&user).await.email;
    expect_conflict(
        fx.store.set_email(&user, &taken).await,
        "set_email to another account's email",
    );
    assert_eq!(
        fx.user_record(&user).await.email,
        before,
        "a refused change leaves the email as it was"
    );
    fx.store
        .set_email(&user, "moved@example.test")
        .await
        .expect("set_email failed");
    let found = fx
        .store
        .user_by_email("moved@example.test")
        .await
        .expect("user_by_email failed")
        .expect("the account is found by its new email");
    assert_eq!(found.id, user);
    assert!(
        fx.store
            .user_by_email(&before)
            .await
            .expect("user_by_email failed")
            .is_none(),
        "the old email no longer finds the account"
    );
}

/// Deleting an account removes everything of it (credentials, codes, sessions, devices,
/// activity, queued notices, reset links) and queues its last notice to the address given;
/// other accounts keep theirs.
pub async fn delete_user_removes_everything_and_queues_the_last_notice(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let (credential, _) = fx.enrolled(&user, 2).await;
    let other = fx.user().await;
    let email = fx.user_record(&user).await.email;
    let session = fx.session(&user, NOW).await;
    let device = fx.device(&user, &credential, NOW).await;
    let link = reset(&fx, &user, NOW);
    assert!(
        fx.store
            .create_password_reset(link.clone(), 3)
            .await
            .expect("create_password_reset failed")
    );
    for u in [&user, &other] {
        sign_in_line(&fx, u, NOW).await;
        fx.store
            .enqueue_notice(notice(u, "{\"kind\":\"two_step_on\"}", None))
            .await
            .expect("enqueue_notice failed");
    }

    let last = notice(
        &user,
        "{\"kind\":\"account_deleted\"}",
        Some((&email, Locale::Ja)),
    );
    assert!(
        fx.store
            .delete_user(&user, last)
            .await
            .expect("delete_user failed"),
        "delete_user answers true for an account that was there"
    );
    assert!(
        fx.store
            .user_by_id(&user)
            .await
            .expect("user_by_id failed")
            .is_none(),
        "the account is gone"
    );
    assert!(
        !fx.session_exists(&session.digest).await,
        "its sessions are gone"
    );
    assert!(
        !fx.device_exists(&device.digest).await,
        "its devices are gone"
    );
    assert!(fx.active(&user).await.is_none(), "its app is gone");
    assert_eq!(fx.codes_left(&user).await, 0, "its recovery codes are gone");
    assert!(
        fx.store
            .list_activity(&user, 50, None)
            .await
            .expect("list_activity failed")
            .is_empty(),
        "its activity is gone"
    );
    assert!(
        fx.store
            .password_reset(&link.digest)
            .await
            .expect("password_reset failed")
            .is_none(),
        "its reset links are gone"
    );
    assert_eq!(
        fx.store
            .list_activity(&other, 50, None)
            .await
            .expect("list_activity failed")
            .len(),
        1,
        "another account keeps its activity"
    );
    let due = fx
        .store
        .due_notices(NOW + 1, 50)
        .await
        .expect("due_notices failed");
    let other_email = fx.user_record(&other).await.email;
    let mut seen: Vec<(String, Locale, String)> = due
        .into_iter()
        .map(|n| (n.email, n.locale, n.kind))
        .collect();
    seen.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        seen,
        vec![
            (
                email.clone(),
                Locale::Ja,
                "{\"kind\":\"account_deleted\"}".to_owned()
            ),
            (
                other_email,
                Locale::Ja,
                "{\"kind\":\"two_step_on\"}".to_owned()
            ),
        ],
        "the deleted account's queued notices are gone, its last notice is queued to its \
         address, and other accounts' notices stay"
    );
    assert!(
        !fx.store
            .delete_user(&user, notice(&user, "{}", Some((&email, Locale::En))))
            .await
            .expect("delete_user failed"),
        "deleting an account that is gone answers false and queues nothing"
    );
}

/// Disabling ends every session, open challenge and remembered device of the account (and no
/// other's); enabling lets it be used again. Unknown accounts answer false.
pub async fn disabling_ends_sessions_challenges_and_devices(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let (credential, _) = fx.enrolled(&user, 2).await;
    let other = fx.user().await;
    let session = fx.session(&user, NOW).await;
    let kept = fx.session(&other, NOW).await;
    let device = fx.device(&user, &credential, NOW).await;
    let challenge = fx.challenge(&user, NOW).await;
    assert!(
        fx.store
            .set_disabled(&user, Some(NOW))
            .await
            .expect("set_disabled failed"),
        "set_disabled answers true for an account that is there"
    );
    assert_eq!(fx.user_record(&user).await.disabled_at, Some(NOW));
    assert!(!fx.session_exists(&session.digest).await, "sessions end");
    assert!(
        !fx.device_exists(&device.digest).await,
        "devices are forgotten"
    );
    assert!(
        fx.store
            .challenge_by_digest(&challenge)
            .await
            .expect("challenge_by_digest failed")
            .is_none(),
        "open sign-ins end"
    );
    assert!(
        fx.session_exists(&kept.digest).await,
        "other accounts keep theirs"
    );
    assert!(
        fx.store
            .set_disabled(&user, None)
            .await
            .expect("set_disabled failed")
    );
    assert_eq!(
        fx.user_record(&user).await.disabled_at,
        None,
        "enabled again"
    );
    assert!(
        !fx.store
            .set_disabled(&UserId::new("no-such-account"), Some(NOW))
            .await
            .expect("set_disabled failed"),
        "an unknown account answers false"
    );
}

/// Two-step off until a time: due only from that time on, turned back on once (a second call
/// answers false), ending every session; turning it on by hand clears the time.
pub async fn two_step_off_until_turns_back_on_once_when_due(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    fx.enrolled(&user, 2).await;
    let other = fx.user().await;
    fx.enrolled(&other, 2).await;
    let until = NOW + 86_400;
    fx.store
        .set_two_step_enabled(&user, false, None, Some(until))
        .await
        .expect("set_two_step_enabled failed");
    fx.store
        .set_two_step_enabled(&other, false, None, Some(until))
        .await
        .expect("set_two_step_enabled failed");
    let read = fx.user_record(&user).await;
    assert!(!read.two_step_enabled);
    assert_eq!(read.two_step_off_until, Some(until));
    let session = fx.session(&user, NOW + 10).await;
    assert!(
        fx.store
            .due_two_step_back_on(until - 1, 10)
            .await
            .expect("due_two_step_back_on failed")
            .is_empty(),
        "nothing is due before its time"
    );
    assert!(
        !fx.store
            .two_step_back_on(&user, until - 1)
            .await
            .expect("two_step_back_on failed"),
        "not before its time"
    );
    let mut due = fx
        .store
        .due_two_step_back_on(until, 10)
        .await
        .expect("due_two_step_back_on failed");
    due.sort();
    let mut both = vec![user.clone(), other.clone()];
    both.sort();
    assert_eq!(due, both, "both accounts are due at their time");
    assert!(
        fx.store
            .two_step_back_on(&user, until)
            .await
            .expect("two_step_back_on failed")
    );
    assert!(
        !fx.store
            .two_step_back_on(&user, until)
            .await
            .expect("two_step_back_on failed"),
        "turned back on once"
    );
    let read = fx.user_record(&user).await;
    assert!(read.two_step_enabled, "two-step is on again");
    assert_eq!(read.two_step_off_until, None);
    assert!(
        !fx.session_exists(&session.digest).await,
        "sessions made while it was off end"
    );
    fx.store
        .set_two_step_enabled(&other, true, None, None)
        .await
        .expect("set_two_step_enabled failed");
    assert_eq!(
        fx.user_record(&other).await.two_step_off_until,
        None,
        "turning it on by hand clears the time"
    );
    assert!(
        fx.store
            .due_two_step_back_on(until + 1, 10)
            .await
            .expect("due_two_step_back_on failed")
            .is_empty()
    );
}

/// The account list filters by a part of the email (any case, `%` and `_` taken literally),
/// pages by email, and says which accounts have a confirmed method; groups are added once,
/// listed by name and removed.
pub async fn list_users_and_groups(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    fx.enrolled(&b, 1).await;
    fx.store
        .set_email(&a, "Alpha_1@example.test")
        .await
        .expect("set_email failed");
    fx.store
        .set_email(&b, "beta%2@example.test")
        .await
        .expect("set_email failed");
    let all = fx
        .store
        .list_users("example.test", "", 10)
        .await
        .expect("list_users failed");
    let seen: Vec<(String, bool)> = all.iter().map(|(u, m)| (u.email.clone(), *m)).collect();
    assert_eq!(
        seen,
        vec![
            ("Alpha_1@example.test".to_owned(), false),
            ("beta%2@example.test".to_owned(), true)
        ],
        "in email order, with whether a method is confirmed"
    );
    let one = |q: &'static str| {
        let store = fx.store.clone();
        async move {
            store
                .list_users(q, "", 10)
                .await
                .expect("list_users failed")
                .into_iter()
                .map(|(u, _)| u.email)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(one("ALPHA").await, vec!["Alpha_1@example.test"], "any case");
    assert_eq!(
        one("%").await,
        vec!["beta%2@example.test"],
        "% is a character"
    );
    assert_eq!(
        one("_").await,
        vec!["Alpha_1@example.test"],
        "_ is a character"
    );
    let after = fx
        .store
        .list_users("", "Alpha_1@example.test", 10)
        .await
        .expect("list_users failed");
    assert_eq!(after.len(), 1, "pages after an email");
    assert_eq!(
        fx.store
            .list_users("", "", 1)
            .await
            .expect("list_users failed")
            .len(),
        1,
        "at most `limit`"
    );

    for (name, first) in [("ops", true), ("admins", true), ("ops", false)] {
        assert_eq!(
            fx.store
                .add_group(&a, name)
                .await
                .expect("add_group failed"),
            first,
            "add_group {name}"
        );
    }
    assert_eq!(
        fx.store.groups(&a).await.expect("groups failed"),
        vec!["admins".to_owned(), "ops".to_owned()]
    );
    assert!(fx.store.groups(&b).await.expect("groups failed").is_empty());
    assert!(
        fx.store
            .remove_group(&a, "ops")
            .await
            .expect("remove_group failed")
    );
    assert!(
        !fx.store
            .remove_group(&a, "ops")
            .await
            .expect("remove_group failed")
    );
    assert_eq!(
        fx.store.groups(&a).await.expect("groups failed"),
        vec!["admins".to_owned()]
    );
}

/// Notices count as waiting until sent or given up on.
pub async fn pending_notices_count_what_is_neither_sent_nor_given_up(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let pending = |fx: &Fixture| {
        let store = fx.store.clone();
        async move {
            store
                .pending_notices()
                .await
                .expect("pending_notices failed")
        }
    };
    assert_eq!(pending(&fx).await, 0);
    for _ in 0..3 {
        fx.store
            .enqueue_notice(notice(&user, "{\"kind\":\"two_step_on\"}", None))
            .await
            .expect("enqueue_notice failed");
    }
    assert_eq!(pending(&fx).await, 3);
    let queued = fx
        .store
        .due_notices(NOW + 1, 10)
        .await
        .expect("due_notices failed");
    assert_eq!(queued.len(), 3);
    fx.store
        .notice_sent(queued[0].id, NOW)
        .await
        .expect("notice_sent failed");
    fx.store
        .notice_failed(queued[1].id, Some(NOW + 60), "try again")
        .await
        .expect("notice_failed failed");
    assert_eq!(pending(&fx).await, 2, "a notice to retry still waits");
    fx.store
        .notice_failed(queued[1].id, None, "given up")
        .await
        .expect("notice_failed failed");
    assert_eq!(pending(&fx).await, 1);
}

/// The retention sweep deletes what is over and keeps the rest, at most `batch` rows per table
/// and call.
pub async fn purge_deletes_what_is_over_in_batches(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let day = 86_400;
    for at in [NOW - 500 * day, NOW - 450 * day, NOW - 10 * day] {
        sign_in_line(&fx, &user, at).await;
    }
    let idle = fx.session(&user, NOW - 7200).await;
    let fresh = fx.session(&user, NOW - 60).await;
    let old_challenge = fx.challenge(&user, NOW - 3 * day).await;
    let open_challenge = fx.challenge(&user, NOW - 60).await;
    fx.store
        .enqueue_notice(notice(&user, "{\"kind\":\"two_step_on\"}", None))
        .await
        .expect("enqueue_notice failed");
    let queued = fx
        .store
        .due_notices(NOW + 1, 10)
        .await
        .expect("due_notices failed");
    fx.store
        .notice_sent(queued[0].id, NOW)
        .await
        .expect("notice_sent failed");
    let rules = Purge {
        activity_before: NOW - 400 * day,
        sessions_seen_before: NOW - 1800,
        sessions_started_before: NOW - 12 * 3600,
        challenges_before: NOW,
        codes_before: NOW - day,
        resets_before: NOW,
        devices_before: NOW,
        notices_before: NOW + 31 * day,
        oidc_before: NOW,
        batch: 1,
    };
    let (spent, live) = super::oidc::expired_and_live_tokens(&fx, &user).await;
    let first = fx.store.purge(rules).await.expect("purge failed");
    assert!(
        (1..=10).contains(&first),
        "one call deletes at most `batch` rows per table: {first}"
    );
    let mut total = first;
    loop {
        let n = fx.store.purge(rules).await.expect("purge failed");
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(
        total, 7,
        "two old activity lines, an idle session, an old challenge, a sent notice, an expired \
         OpenID Connect code and token"
    );
    let token = |d| {
        let store = fx.store.clone();
        async move {
            store
                .oidc_token(&d)
                .await
                .expect("oidc_token failed")
                .is_some()
        }
    };
    assert!(!token(spent).await, "an expired token goes");
    assert!(token(live).await, "a live token stays");
    let kept = fx
        .store
        .list_activity(&user, 10, None)
        .await
        .expect("list_activity failed");
    assert_eq!(kept.len(), 1, "recent history stays");
    assert!(
        !fx.session_exists(&idle.digest).await,
        "an idle session goes"
    );
    assert!(
        fx.session_exists(&fresh.digest).await,
        "a live session stays"
    );
    let challenge = |d| {
        let store = fx.store.clone();
        async move {
            store
                .challenge_by_digest(&d)
                .await
                .expect("challenge_by_digest failed")
                .is_some()
        }
    };
    assert!(
        !challenge(old_challenge).await,
        "a challenge long expired goes"
    );
    assert!(challenge(open_challenge).await, "an open challenge stays");
}

/// A webhook's place in the history: a new one starts after the newest line; it moves only from
/// where the mover saw it (of two nodes, one moves it); a failure is kept until it moves again.
pub async fn webhook_cursors_start_at_the_newest_line_and_move_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let user = fx.user().await;
    let line = |kind: &'static str| NewActivity {
        user_id: user.clone(),
        at: NOW,
        kind,
        method: None,
        result: "success",
        ip: "192.0.2.1".into(),
        user_agent: "conformance/1.0".into(),
        detail: None,
        country: None,
    };
    fx.store
        .append_activity(line("sign_in"))
        .await
        .expect("append_activity failed");
    let newest = |fx: &Fixture| {
        let store = fx.store.clone();
        async move {
            store
                .activity_between(0, i64::MAX, 0, 1000)
                .await
                .expect("activity_between failed")
                .last()
                .map(|(a, _)| a.id)
                .unwrap_or(0)
        }
    };
    let start = newest(&fx).await;
    let cursor = fx
        .store
        .webhook_cursor("siem")
        .await
        .expect("webhook_cursor failed");
    assert_eq!(
        (cursor.last_id, cursor.attempts, cursor.next_at),
        (start, 0, 0)
    );
    fx.store
        .append_activity(line("second_step"))
        .await
        .expect("append_activity failed");
    let next = newest(&fx).await;
    let again = fx
        .store
        .webhook_cursor("siem")
        .await
        .expect("webhook_cursor failed");
    assert_eq!(again.last_id, start, "a known webhook keeps its place");
    fx.store
        .webhook_failed("siem", 2, NOW + 10, "receiver answered 500")
        .await
        .expect("webhook_failed failed");
    let failed = fx
        .store
        .webhook_cursor("siem")
        .await
        .expect("webhook_cursor failed");
    assert_eq!((failed.attempts, failed.next_at), (2, NOW + 10));
    assert!(
        fx.store
            .advance_webhook("siem", start, next)
            .await
            .expect("advance_webhook failed")
    );
    assert!(
        !fx.store
            .advance_webhook("siem", start, next)
            .await
            .expect("advance_webhook failed"),
        "a second mover from the same place loses"
    );
    let moved = fx
        .store
        .webhook_cursor("siem")
        .await
        .expect("webhook_cursor failed");
    assert_eq!((moved.last_id, moved.attempts, moved.next_at), (next, 0, 0));
    let pairs = fx
        .store
        .activity_between(0, i64::MAX, start, 10)
        .await
        .expect("activity_between failed");
    assert_eq!(pairs.len(), 1, "after the cursor: the newer line only");
    assert_eq!(pairs[0].0.kind, "second_step");
    assert_eq!(
        pairs[0].1,
        fx.user_record(&user).await.email,
        "with the account's email"
    );
}
