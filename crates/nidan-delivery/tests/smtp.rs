//! Email over real SMTP: lettre talks to the in-process test server over loopback TCP.

use nidan_delivery::testing::TestSmtpServer;
use nidan_delivery::{Courier, SmsConfig};
use nidan_service::courier::{Channel, CodePurpose, Courier as _, Locale, NoticeKind};

use crate::common::{self, code, courier, mime, notice};

fn url_with_auth(server: &TestSmtpServer) -> String {
    format!("smtp://mailer%40example.test:s3cr%3At@{}", server.addr)
}

#[tokio::test]
async fn an_english_sign_in_code_arrives_with_both_parts_and_the_url_credentials() {
    let server = TestSmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), Some(url_with_auth(&server)), SmsConfig::Outbox);

    let message = code(
        Channel::Email,
        "taro@example.test",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    courier.send_code(&message).await.unwrap();

    let received = server.messages();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "nidan@example.test");
    assert_eq!(mail.to, vec!["taro@example.test".to_owned()]);
    assert_eq!(
        mail.auth,
        Some(("mailer@example.test".to_owned(), "s3cr:t".to_owned())),
        "the user and password from the URL were used for AUTH"
    );

    let parsed = mime::parse(&mail.data);
    assert_eq!(parsed.subject(), "[nidan] Verification code");
    assert!(parsed.header("Message-ID").is_some());
    let text = parsed.part("text/plain").expect("a text part");
    let html = parsed.part("text/html").expect("an HTML part");
    for part in [text, html] {
        assert!(part.contains("123456"), "{part}");
        assert!(part.contains("5 minutes"), "{part}");
        assert!(
            part.contains("If this wasn't you") || part.contains("If this wasn&#39;t you"),
            "{part}"
        );
        assert!(part.contains("finish signing in"), "{part}");
    }
    assert!(html.contains("<html lang=\"en\">"));
    assert!(
        !dir.path().join("outbox.jsonl").exists(),
        "SMTP mail does not go to the outbox"
    );
    assert!(courier.delivery_counts().contains(&("email", "sent", 1)));
    assert!(courier.email_transport().starts_with("smtp://127.0.0.1:"));
}

#[tokio::test]
async fn a_japanese_enrolment_code_is_in_japanese() {
    let server = TestSmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), Some(server.url()), SmsConfig::Outbox);

    let message = code(
        Channel::Email,
        "hanako@example.test",
        "654321",
        CodePurpose::Enrolment,
        Locale::Ja,
    );
    courier.send_code(&message).await.unwrap();

    let received = server.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].auth, None, "no credentials in the URL, no AUTH");
    let parsed = mime::parse(&received[0].data);
    assert_eq!(parsed.subject(), "[nidan] 確認コード");
    let text = parsed.part("text/plain").unwrap();
    let html = parsed.part("text/html").unwrap();
    for part in [text, html] {
        assert!(part.contains("654321"), "{part}");
        assert!(part.contains("有効期限は5分"), "{part}");
        assert!(
            part.contains("このアドレスを2段階認証に使うことを確認"),
            "{part}"
        );
        assert!(part.contains("お心当たりがない場合"), "{part}");
    }
    assert!(html.contains("<html lang=\"ja\">"));
}

#[tokio::test]
async fn a_new_country_code_says_a_new_country_was_seen() {
    let server = TestSmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), Some(server.url()), SmsConfig::Outbox);
    for (locale, needle) in [
        (Locale::En, "from a new country"),
        (Locale::Ja, "これまでと異なる国"),
    ] {
        let message = code(
            Channel::Email,
            "taro@example.test",
            "111222",
            CodePurpose::NewCountry,
            locale,
        );
        courier.send_code(&message).await.unwrap();
        let mail = server.messages().pop().unwrap();
        let text = mime::parse(&mail.data)
            .part("text/plain")
            .unwrap()
            .to_owned();
        assert!(text.contains(needle), "{text}");
    }
}

#[tokio::test]
async fn a_failing_server_gives_an_error_after_three_tries() {
    let server = TestSmtpServer::start_failing().await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), Some(server.url()), SmsConfig::Outbox);

    let message = code(
        Channel::Email,
        "taro@example.test",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    let started = std::time::Instant::now();
    let err = courier.send_code(&message).await.unwrap_err();
    assert_eq!(server.mail_commands(), 3, "three tries");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "backoff between tries"
    );
    assert!(err.0.contains("3 tries"), "{}", err.0);
    assert!(!err.0.contains("123456"));
    assert!(server.messages().is_empty());
    assert!(courier.delivery_counts().contains(&("email", "failed", 1)));
    assert!(
        !dir.path().join("outbox.jsonl").exists(),
        "a failed send is not diverted to the outbox"
    );
}

#[tokio::test]
async fn a_refused_connection_is_an_error_too() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(
        dir.path(),
        Some(format!("smtp://127.0.0.1:{port}")),
        SmsConfig::Outbox,
    );
    let message = code(
        Channel::Email,
        "taro@example.test",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    let err = courier.send_code(&message).await.unwrap_err();
    assert!(err.0.starts_with("smtp:"), "{}", err.0);
}

#[tokio::test]
async fn a_notice_goes_by_smtp_in_the_users_language_with_one_try() {
    let server = TestSmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), Some(server.url()), SmsConfig::Outbox);

    courier
        .send_notice(&notice(NoticeKind::TwoStepOff { until: None }, Locale::Ja))
        .await
        .unwrap();
    let mail = server.messages().pop().unwrap();
    assert_eq!(mail.to, vec!["taro@example.test".to_owned()]);
    let parsed = mime::parse(&mail.data);
    assert_eq!(
        parsed.subject(),
        "[nidan] セキュリティ通知: 2段階認証がオフになりました"
    );
    let text = parsed.part("text/plain").unwrap();
    assert!(
        text.contains("2026年5月1日 21:34 JST（12:34 UTC）"),
        "{text}"
    );
    assert!(text.contains("203.0.113.9"));
    assert!(text.contains("JP"));
    assert!(
        text.contains("お心当たりがない場合: すぐにパスワードを変更し、サポートにご連絡ください。")
    );
    let html = parsed.part("text/html").unwrap();
    assert!(
        html.contains("Mozilla/5.0 &#60;b&#62;Firefox&#60;/b&#62;"),
        "{html}"
    );

    let failing = TestSmtpServer::start_failing().await;
    let courier = common::courier(dir.path(), Some(failing.url()), SmsConfig::Outbox);
    assert!(
        courier
            .send_notice(&notice(NoticeKind::TwoStepOn, Locale::En))
            .await
            .is_err()
    );
    assert_eq!(
        failing.mail_commands(),
        1,
        "notices get one try; the queue retries"
    );
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    for (url, from, needle) in [
        (
            "smtp://mail.example.test?tls=maybe",
            "nidan@example.test",
            "[email] smtp_url",
        ),
        (
            "ftp://mail.example.test",
            "nidan@example.test",
            "[email] smtp_url",
        ),
        ("smtp://mail.example.test", "not an address", "[email] from"),
    ] {
        let mut config = common::config(dir.path(), Some(url.to_owned()), SmsConfig::Outbox);
        config.email_from = from.to_owned();
        let err = Courier::new(config).unwrap_err();
        assert!(err.0.contains(needle), "{url}: {}", err.0);
    }
    let sms = SmsConfig::Webhook {
        url: "not a url".into(),
        authorization: None,
    };
    let err = Courier::new(common::config(dir.path(), None, sms)).unwrap_err();
    assert!(err.0.contains("[sms] url"), "{}", err.0);
}

#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        common::config(
            dir.path(),
            Some("smtps://user:hunter2-smtp@mail.example.test".into()),
            SmsConfig::Twilio {
                account_sid: "AC123".into(),
                auth_token: "hunter2-twilio".into(),
                from: "+15005550006".into(),
                base_url: "https://api.twilio.example".into(),
            },
        ),
        common::config(
            dir.path(),
            Some("smtp://user:hunter2-smtp@127.0.0.1:2525".into()),
            SmsConfig::Webhook {
                url: "https://sms.example.test/send?key=hunter2-query".into(),
                authorization: Some("Bearer hunter2-hook".into()),
            },
        ),
    ];
    for config in configs {
        let shown = format!("{config:?} {:?}", Courier::new(config.clone()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("mail.example.test") || shown.contains("127.0.0.1"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn required_starttls_never_falls_back_to_clear_text() {
    // The test server offers no STARTTLS: with `?tls=required` nothing may be sent.
    let server = TestSmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("smtp://u:p@{}?tls=required", server.addr);
    let courier = courier(dir.path(), Some(url), SmsConfig::Outbox);
    let message = code(
        Channel::Email,
        "taro@example.test",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    let err = courier.send_code(&message).await.unwrap_err();
    assert!(err.0.starts_with("smtp:"), "{}", err.0);
    assert!(server.messages().is_empty());
    assert_eq!(server.mail_commands(), 0);
    assert!(
        courier.email_transport().contains("(starttls)"),
        "{}",
        courier.email_transport()
    );
}
