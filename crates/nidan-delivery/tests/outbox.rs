//! The outbox: the default channel, one JSON line per message, mode 0600, and logs without bodies.

use std::sync::Arc;

use nidan_delivery::{SmsConfig, outbox};
use nidan_service::courier::{Channel, CodePurpose, Courier as _, Locale, NoticeKind};

use crate::common::{code, courier, notice};

#[tokio::test]
async fn concurrent_sends_give_complete_lines_with_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, SmsConfig::Outbox);
    assert_eq!(courier.sms_provider(), "outbox");
    assert_eq!(courier.email_transport(), "outbox");

    let sms = code(
        Channel::Sms,
        "+819012345678",
        "111111",
        CodePurpose::SignIn,
        Locale::En,
    );
    let email = code(
        Channel::Email,
        "taro@example.test",
        "222222",
        CodePurpose::Enrolment,
        Locale::Ja,
    );
    let (a, b) = tokio::join!(courier.send_code(&sms), courier.send_code(&email));
    a.unwrap();
    b.unwrap();

    let path = dir.path().join("outbox.jsonl");
    assert_eq!(courier.outbox_path(), path);
    let raw = std::fs::read_to_string(&path).unwrap();
    assert_eq!(raw.lines().count(), 2);
    assert!(raw.ends_with('\n'));
    let lines = outbox::read_all(&path);
    assert_eq!(lines.len(), 2);

    let sms_line = lines.iter().find(|l| l["channel"] == "sms").unwrap();
    assert_eq!(sms_line["at"], "2026-05-01T12:34:56Z");
    assert_eq!(sms_line["to"], "+819012345678");
    assert!(sms_line.get("subject").is_none(), "an SMS has no subject");
    assert_eq!(
        sms_line["body"],
        "nidan: 111111 is your verification code. It expires in 5 minutes."
    );

    let email_line = lines.iter().find(|l| l["channel"] == "email").unwrap();
    assert_eq!(email_line["to"], "taro@example.test");
    assert_eq!(email_line["subject"], "[nidan] 確認コード");
    assert!(email_line["body"].as_str().unwrap().contains("222222"));
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["at", "channel", "to", "subject", "body"].contains(&k.as_str()))
        );
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(courier.delivery_counts().contains(&("sms", "sent", 1)));
    assert!(courier.delivery_counts().contains(&("email", "sent", 1)));
}

#[tokio::test]
async fn many_concurrent_sends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let courier = Arc::new(courier(dir.path(), None, SmsConfig::Outbox));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let courier = Arc::clone(&courier);
        tasks.push(tokio::spawn(async move {
            let m = code(
                Channel::Sms,
                "+819012345678",
                &format!("{i:06}"),
                CodePurpose::SignIn,
                Locale::En,
            );
            courier.send_code(&m).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let raw = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    assert_eq!(raw.lines().count(), 20);
    for line in raw.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[tokio::test]
async fn a_looser_existing_file_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    std::fs::write(&path, "").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let courier = courier(dir.path(), None, SmsConfig::Outbox);
        let m = code(
            Channel::Sms,
            "+819012345678",
            "123456",
            CodePurpose::SignIn,
            Locale::En,
        );
        courier.send_code(&m).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn notices_go_to_the_outbox_when_email_does() {
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, SmsConfig::Outbox);
    courier
        .send_notice(&notice(
            NoticeKind::RecoveryCodeUsed { left: 2 },
            Locale::En,
        ))
        .await
        .unwrap();
    let lines = outbox::read_all(dir.path().join("outbox.jsonl"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["channel"], "email");
    assert_eq!(lines[0]["to"], "taro@example.test");
    assert_eq!(
        lines[0]["subject"],
        "[nidan] Security alert: a recovery code was used"
    );
    let body = lines[0]["body"].as_str().unwrap();
    assert!(body.contains("Recovery codes left: 2."), "{body}");
    assert!(
        body.contains("If this wasn't you: change your password"),
        "{body}"
    );
    assert!(body.contains("2026-05-01 12:34 UTC"), "{body}");
}

#[test]
fn read_all_of_a_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(outbox::read_all(dir.path().join("nothing.jsonl")).is_empty());
}
