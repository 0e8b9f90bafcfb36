//! Logs name each message (channel, masked recipient, subject) but never hold a code, a full
//! address or phone number.

use nidan_delivery::SmsConfig;
use nidan_service::courier::{Channel, CodePurpose, Courier as _, Locale};

use crate::common::{code, courier, logs};

#[tokio::test]
async fn the_log_line_names_the_message_but_never_holds_the_code() {
    let captured = logs::capture(tracing::Level::DEBUG);

    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, SmsConfig::Outbox);
    let m = code(
        Channel::Sms,
        "+819012345678",
        "987654",
        CodePurpose::SignIn,
        Locale::En,
    );
    courier.send_code(&m).await.unwrap();
    let e = code(
        Channel::Email,
        "taro@example.test",
        "876543",
        CodePurpose::SignIn,
        Locale::En,
    );
    courier.send_code(&e).await.unwrap();

    let log = captured.text();
    assert!(log.contains("message written to the outbox"), "{log}");
    assert!(log.contains("+81***5678"), "{log}");
    assert!(log.contains("t***@example.test"), "{log}");
    assert!(log.contains("[nidan] Verification code"), "{log}");
    for secret in ["987654", "876543", "+819012345678", "taro@example.test"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}
