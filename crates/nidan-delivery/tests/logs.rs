//! Logs name each message (channel, masked recipient, subject) but never hold a code, a full
//! address or phone number. Its own test binary, so its global subscriber sees every callsite.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use nidan_delivery::SmsConfig;
use nidan_service::courier::{Channel, CodePurpose, Courier as _, Locale};

use common::{code, courier};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_line_names_the_message_but_never_holds_the_code() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

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

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("message written to the outbox"), "{log}");
    assert!(log.contains("+81***5678"), "{log}");
    assert!(log.contains("t***@example.test"), "{log}");
    assert!(log.contains("[nidan] Verification code"), "{log}");
    for secret in ["987654", "876543", "+819012345678", "taro@example.test"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}
