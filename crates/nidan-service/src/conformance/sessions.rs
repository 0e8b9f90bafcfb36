//! Sessions, remembered devices and the activity history: listed newest first, and touched only
//! by their owner.

use std::sync::Arc;

use nidan_domain::{Method, SecondStep};

use super::fixture::{Fixture, NOW};
use crate::UserId;
use crate::ports::{FirstMethod, NewActivity, Store};

/// Sessions are found by token digest, listed newest first, touched, and ended only by their
/// owner: ending another user's session id answers false and changes nothing (no IDOR).
pub async fn sessions_list_newest_first_and_delete_only_own(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let s1 = fx.session(&a, NOW - 300).await;
    let s2 = fx.session(&a, NOW - 200).await;
    let s3 = fx.session(&a, NOW - 100).await;
    let sb = fx.session(&b, NOW).await;

    assert_eq!(
        fx.session_ids(&a).await,
        vec![
            s3.record.id.clone(),
            s2.record.id.clone(),
            s1.record.id.clone()
        ],
        "list_sessions must list newest first"
    );
    assert_eq!(
        fx.session_ids(&b).await,
        vec![sb.record.id.clone()],
        "list_sessions must list only the user's sessions"
    );

    let found = fx
        .store
        .session_by_digest(&s2.digest)
        .await
        .expect("session_by_digest failed")
        .expect("session_by_digest must find a created session");
    assert_eq!(found.id, s2.record.id, "session_by_digest: id");
    assert_eq!(found.user_id, a, "session_by_digest: owner");
    assert_eq!(
        (found.created_at, found.last_seen_at),
        (NOW - 200, NOW - 200),
        "session_by_digest: times"
    );
    assert_eq!(
        (found.ip.as_str(), found.user_agent.as_str()),
        (s2.record.ip.as_str(), s2.record.user_agent.as_str()),
        "session_by_digest: client"
    );
    assert!(
        !fx.session_exists(&fx.digest()).await,
        "session_by_digest: an unknown digest must be None"
    );

    fx.store
        .touch_session(&s1.record.id, NOW + 5)
        .await
        .expect("touch_session failed");
    let touched = fx
        .store
        .session_by_digest(&s1.digest)
        .await
        .expect("session_by_digest failed")
        .expect("touched session exists");
    assert_eq!(
        (touched.created_at, touched.last_seen_at),
        (NOW - 300, NOW + 5),
        "touch_session must move last_seen_at only"
    );

    assert!(
        !fx.store
            .delete_session(&b, &s1.record.id)
            .await
            .expect("delete_session failed"),
        "delete_session of another user's session must answer false"
    );
    assert!(
        fx.session_exists(&s1.digest).await,
        "delete_session of another user's session must not end it"
    );
    assert!(
        fx.store
            .delete_session(&a, &s1.record.id)
            .await
            .expect("delete_session failed"),
        "delete_session of an own session must answer true"
    );
    assert!(
        !fx.session_exists(&s1.digest).await,
        "a deleted session must not be found"
    );
    assert!(
        !fx.store
            .delete_session(&a, &s1.record.id)
            .await
            .expect("delete_session failed"),
        "deleting a session twice must answer false the second time"
    );
    assert!(
        fx.session_exists(&sb.digest).await,
        "other users' sessions are untouched"
    );
}

/// Devices are listed newest first and forgotten only by their owner (no IDOR);
/// `delete_devices` forgets all of one user's devices and says how many.
pub async fn devices_list_newest_first_and_delete_only_own(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let (ca, _) = fx.enrolled(&a, 0).await;
    let (cb, _) = fx.enrolled(&b, 0).await;
    let d1 = fx.device(&a, &ca, NOW - 300).await;
    let d2 = fx.device(&a, &ca, NOW - 200).await;
    let d3 = fx.device(&a, &ca, NOW - 100).await;
    let db = fx.device(&b, &cb, NOW).await;

    assert_eq!(
        fx.device_ids(&a).await,
        vec![
            d3.record.id.clone(),
            d2.record.id.clone(),
            d1.record.id.clone()
        ],
        "list_devices must list newest first"
    );
    let found = fx
        .store
        .device_by_digest(&d1.digest)
        .await
        .expect("device_by_digest failed")
        .expect("device_by_digest must find a remembered device");
    assert_eq!(found.id, d1.record.id, "device_by_digest: id");
    assert_eq!(found.user_id, a, "device_by_digest: owner");
    assert_eq!(found.name, d1.record.name, "device_by_digest: name");
    assert_eq!(
        (found.created_at, found.expires_at),
        (d1.record.created_at, d1.record.expires_at),
        "device_by_digest: times"
    );
    assert_eq!(
        found.last_used_at, None,
        "device_by_digest: a new device was never used"
    );

    assert!(
        !fx.store
            .delete_device(&b, &d1.record.id)
            .await
            .expect("delete_device failed"),
        "delete_device of another user's device must answer false"
    );
    assert!(
        fx.device_exists(&d1.digest).await,
        "delete_device of another user's device must not forget it"
    );
    assert!(
        fx.store
            .delete_device(&a, &d1.record.id)
            .await
            .expect("delete_device failed"),
        "delete_device of an own device must answer true"
    );
    assert!(
        !fx.device_exists(&d1.digest).await,
        "a forgotten device must not be found"
    );
    assert!(
        !fx.store
            .delete_device(&a, &d1.record.id)
            .await
            .expect("delete_device failed"),
        "forgetting a device twice must answer false"
    );

    assert_eq!(
        fx.store
            .delete_devices(&a)
            .await
            .expect("delete_devices failed"),
        2,
        "delete_devices must say how many it forgot"
    );
    assert!(
        fx.device_ids(&a).await.is_empty(),
        "delete_devices must forget every device of the user"
    );
    assert!(
        fx.device_exists(&db.digest).await,
        "delete_devices must not touch other users' devices"
    );
}

/// Signing in with a remembered device records the use and creates the session.
pub async fn device_sign_in_records_use_and_creates_session(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (ca, _) = fx.enrolled(&a, 0).await;
    let d = fx.device(&a, &ca, NOW - 100).await;
    let session = fx.new_session(&a, NOW);
    let signed_in = fx
        .store
        .sign_in_with_device(&d.record.id, NOW, "198.51.100.7", session.clone())
        .await
        .expect("sign_in_with_device failed");
    assert!(signed_in, "a live device signs in");
    let used = fx
        .store
        .device_by_digest(&d.digest)
        .await
        .expect("device_by_digest failed")
        .expect("the device still exists");
    assert_eq!(
        used.last_used_at,
        Some(NOW),
        "sign_in_with_device must record when the device was used"
    );
    assert_eq!(
        used.last_ip, "198.51.100.7",
        "sign_in_with_device must record where the device was used from"
    );
    assert!(
        fx.session_exists(&session.digest).await,
        "sign_in_with_device must create the session"
    );
}

/// A remembered device that was forgotten (or expired, or belongs to someone else) between the
/// service's lookup and the sign-in must not produce a session: revoking a device takes effect
/// at once, not after a read-check-write window (architecture habit 6). The store answers false.
pub async fn device_sign_in_needs_a_live_device(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let (ca, _) = fx.enrolled(&a, 0).await;

    let forgotten = fx.device(&a, &ca, NOW - 100).await;
    assert!(
        fx.store
            .delete_device(&a, &forgotten.record.id)
            .await
            .expect("delete_device failed"),
        "the device is forgotten"
    );
    let session = fx.new_session(&a, NOW);
    let result = fx
        .store
        .sign_in_with_device(&forgotten.record.id, NOW, "192.0.2.1", session.clone())
        .await;
    assert!(
        matches!(result, Ok(false)),
        "sign_in_with_device with a forgotten device must fail, got {result:?}"
    );
    assert!(
        !fx.session_exists(&session.digest).await,
        "sign_in_with_device with a forgotten device must not create a session"
    );

    let mut short = fx.new_device(&a, NOW - 100);
    short.record.expires_at = NOW;
    let expired = fx
        .sign_in(&a, &ca, NOW - 100, Some(short))
        .await
        .1
        .expect("the device was stored");
    let session = fx.new_session(&a, NOW);
    let result = fx
        .store
        .sign_in_with_device(&expired.record.id, NOW, "192.0.2.1", session.clone())
        .await;
    assert!(
        matches!(result, Ok(false)),
        "sign_in_with_device with an expired device must fail, got {result:?}"
    );
    assert!(
        !fx.session_exists(&session.digest).await,
        "sign_in_with_device with an expired device must not create a session"
    );

    let alive = fx.device(&a, &ca, NOW - 100).await;
    let session = fx.new_session(&b, NOW);
    let result = fx
        .store
        .sign_in_with_device(&alive.record.id, NOW, "192.0.2.1", session.clone())
        .await;
    assert!(
        matches!(result, Ok(false)),
        "sign_in_with_device must not sign in another user with a device, got {result:?}"
    );
    assert!(
        !fx.session_exists(&session.digest).await,
        "a device must not create a session for another user"
    );
}

/// Remembered devices are revoked by a password change and by turning two-step off or back on;
/// turning it back on also ends every session but the one that did it.
pub async fn devices_revoked_by_password_change_and_two_step_off(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (ca, _) = fx.enrolled(&a, 0).await;

    let d = fx.device(&a, &ca, NOW - 100).await;
    fx.store
        .set_password_hash(&a, Some("$argon2id$changed".into()), None)
        .await
        .expect("set_password_hash failed");
    assert!(
        !fx.device_exists(&d.digest).await,
        "a password change must revoke remembered devices"
    );

    let d = fx.device(&a, &ca, NOW - 90).await;
    fx.store
        .set_two_step_enabled(&a, false, None, None)
        .await
        .expect("set_two_step_enabled failed");
    assert!(
        !fx.device_exists(&d.digest).await,
        "turning two-step off must revoke remembered devices"
    );
    let user = fx.user_record(&a).await;
    assert!(
        !user.two_step_enabled,
        "set_two_step_enabled(false) must turn two-step off"
    );
    assert!(
        fx.active(&a).await.is_some(),
        "turning two-step off keeps the methods"
    );

    // While off: a remembered device and password-only sessions; then back on.
    let d = fx.device(&a, &ca, NOW - 80).await;
    let keep = fx.session(&a, NOW - 70).await;
    let other = fx.session(&a, NOW - 60).await;
    let b = fx.user().await;
    let theirs = fx.session(&b, NOW - 60).await;
    fx.store
        .set_two_step_enabled(&a, true, Some(&keep.record.id), None)
        .await
        .expect("set_two_step_enabled failed");
    assert!(
        fx.user_record(&a).await.two_step_enabled,
        "set_two_step_enabled(true) must turn two-step on"
    );
    assert!(
        !fx.device_exists(&d.digest).await,
        "turning two-step back on must forget remembered devices"
    );
    assert!(
        !fx.session_exists(&other.digest).await,
        "turning two-step back on must end the other sessions"
    );
    assert!(
        fx.session_exists(&keep.digest).await,
        "turning two-step back on keeps the session that did it"
    );
    assert!(
        fx.session_exists(&theirs.digest).await,
        "another user's sessions are untouched"
    );
}

/// Activity is the user's own, newest first, and pages with `before` (exclusive) and `limit`.
pub async fn activity_lists_newest_first_with_cursor(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let event = |user: &UserId, i: i64| NewActivity {
        user_id: user.clone(),
        at: NOW + i,
        kind: "second_step",
        method: (i % 2 == 0).then_some(Method::Totp),
        result: "success",
        ip: "192.0.2.44".into(),
        user_agent: "conformance/1.0".into(),
        detail: Some(format!("n{i}")),
        country: (i % 2 == 1).then(|| "JP".to_owned()),
    };
    for i in 0..5 {
        fx.store
            .append_activity(event(&a, i))
            .await
            .expect("append_activity failed");
        if i < 2 {
            fx.store
                .append_activity(event(&b, i))
                .await
                .expect("append_activity failed");
        }
    }

    let all = fx
        .store
        .list_activity(&a, 50, None)
        .await
        .expect("list_activity failed");
    let details: Vec<_> = all
        .iter()
        .map(|r| r.detail.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        details,
        ["n4", "n3", "n2", "n1", "n0"],
        "list_activity must list the user's lines, newest first"
    );
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "activity ids must decrease down the list"
    );
    assert!(
        all.iter().all(|r| r.user_id == a),
        "list_activity must list only the user's lines"
    );
    let countries: Vec<_> = all.iter().map(|r| r.country.clone()).collect();
    assert_eq!(
        countries,
        [
            None,
            Some("JP".to_owned()),
            None,
            Some("JP".to_owned()),
            None
        ],
        "activity: the client's country round-trips"
    );
    let top = &all[0];
    assert_eq!(
        (top.at, top.kind.as_str(), top.result.as_str()),
        (NOW + 4, "second_step", "success"),
        "activity: time, kind, result"
    );
    assert_eq!(
        (top.ip.as_str(), top.user_agent.as_str()),
        ("192.0.2.44", "conformance/1.0"),
        "activity: client"
    );
    assert_eq!(
        top.method.as_deref(),
        Some("totp"),
        "activity: the method is stored by its wire name"
    );
    assert_eq!(all[1].method, None, "activity: no method stays None");

    let page1 = fx
        .store
        .list_activity(&a, 2, None)
        .await
        .expect("list_activity failed");
    assert_eq!(
        page1,
        all[0..2],
        "list_activity: the first page is the newest `limit` lines"
    );
    let page2 = fx
        .store
        .list_activity(&a, 2, Some(page1[1].id))
        .await
        .expect("list_activity failed");
    assert_eq!(
        page2,
        all[2..4],
        "list_activity: `before` is an exclusive cursor"
    );
    let page3 = fx
        .store
        .list_activity(&a, 2, Some(page2[1].id))
        .await
        .expect("list_activity failed");
    assert_eq!(page3, all[4..5], "list_activity: the last page is short");
    let page4 = fx
        .store
        .list_activity(&a, 2, Some(page3[0].id))
        .await
        .expect("list_activity failed");
    assert!(
        page4.is_empty(),
        "list_activity: past the oldest line there is nothing"
    );
    assert!(
        fx.store
            .list_activity(&a, 0, None)
            .await
            .expect("list_activity failed")
            .is_empty(),
        "list_activity: limit 0 lists nothing"
    );
    assert_eq!(
        fx.store
            .list_activity(&b, 50, None)
            .await
            .expect("list_activity failed")
            .len(),
        2,
        "list_activity: the other user's lines are separate"
    );
}

/// Forward-auth's read: a session with its user's email, groups (sorted) and two-step state, and
/// what its sign-in proved beyond the password, stored as given; the session that confirms the
/// first method counts as made with two steps from then on.
pub async fn gate_session_reads_session_user_and_groups(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    for group in ["ops", "admins"] {
        fx.store
            .add_group(&a, group)
            .await
            .expect("add_group failed");
    }
    let plain = fx.session(&a, NOW - 60).await;
    let found = fx
        .store
        .gate_session(&plain.digest)
        .await
        .expect("gate_session failed")
        .expect("the session is found");
    assert_eq!(found.session.id, plain.record.id);
    assert_eq!(found.session.user_id, a);
    assert_eq!(found.session.last_seen_at, NOW - 60);
    assert_eq!(found.session.second_step, None, "the password alone");
    assert_eq!(found.email, fx.user_record(&a).await.email);
    assert_eq!(found.groups, ["admins", "ops"], "groups come sorted");
    assert!(!found.disabled && !found.two_step_on);
    assert!(
        fx.store
            .gate_session(&fx.digest())
            .await
            .expect("gate_session failed")
            .is_none(),
        "an unknown digest finds nothing"
    );

    for proof in [SecondStep::Method(Method::Sms), SecondStep::Device] {
        let mut s = fx.new_session(&a, NOW);
        s.record.second_step = Some(proof);
        fx.store
            .create_session(s.clone())
            .await
            .expect("create_session failed");
        let read = fx
            .store
            .gate_session(&s.digest)
            .await
            .expect("gate_session failed")
            .expect("the session is found");
        assert_eq!(read.session.second_step, Some(proof), "stored as given");
    }

    let pending = fx.credential(&a, None);
    fx.store
        .put_pending_totp(pending.clone())
        .await
        .expect("put_pending_totp failed");
    let first = FirstMethod {
        default_method: Method::Totp,
        recovery_digests: fx.digests(8),
        keep_session: Some(plain.record.id.clone()),
    };
    assert!(
        fx.store
            .activate_totp(&a, &pending.id, NOW, Some(first))
            .await
            .expect("activate_totp failed")
    );
    let kept = fx
        .store
        .gate_session(&plain.digest)
        .await
        .expect("gate_session failed")
        .expect("the session that confirmed the first method is kept");
    assert_eq!(
        kept.session.second_step,
        Some(SecondStep::Method(Method::Totp)),
        "the session that confirmed the first method now counts as two steps"
    );
    assert!(kept.two_step_on);
}
