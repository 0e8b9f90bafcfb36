//! Shared test helpers: fixed clock, message builders, a tiny MIME reader, log capture.
#![allow(dead_code, clippy::unwrap_used)]

pub mod logs;
pub mod mime;

use std::path::Path;
use std::sync::Arc;

use nidan_delivery::{Courier, DeliveryConfig, SmsConfig};
use nidan_service::courier::{Channel, CodeMessage, CodePurpose, Locale, Notice, NoticeKind};
use nidan_service::{Clock, UnixTime};
use zeroize::Zeroizing;

/// 2026-05-01T12:34:56Z.
pub const NOW: UnixTime = 1_777_638_896;

/// A clock stuck at [`NOW`].
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        NOW
    }
}

pub fn config(data_dir: &Path, smtp_url: Option<String>, sms: SmsConfig) -> DeliveryConfig {
    DeliveryConfig {
        data_dir: data_dir.to_path_buf(),
        smtp_url,
        email_from: "nidan <nidan@example.test>".to_owned(),
        sms,
    }
}

pub fn courier(data_dir: &Path, smtp_url: Option<String>, sms: SmsConfig) -> Courier {
    Courier::with_clock(config(data_dir, smtp_url, sms), Arc::new(FixedClock)).unwrap()
}

pub fn code(
    channel: Channel,
    to: &str,
    code: &str,
    purpose: CodePurpose,
    locale: Locale,
) -> CodeMessage {
    CodeMessage {
        channel,
        to: to.to_owned(),
        code: Zeroizing::new(code.to_owned()),
        purpose,
        locale,
        issuer: "nidan".to_owned(),
        valid_minutes: 5,
    }
}

pub fn notice(kind: NoticeKind, locale: Locale) -> Notice {
    Notice {
        id: 7,
        to: "taro@example.test".to_owned(),
        locale,
        issuer: "nidan".to_owned(),
        kind,
        at: NOW,
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("Mozilla/5.0 <b>Firefox</b>".to_owned()),
        country: Some("JP".to_owned()),
        support: Some("mailto:help@example.com".to_owned()),
    }
}

/// One of each notice kind.
pub fn every_notice_kind() -> Vec<NoticeKind> {
    vec![
        NoticeKind::MethodAdded {
            method: "sms".into(),
            hint: Some("+81 ***-****-5678".into()),
        },
        NoticeKind::MethodAdded {
            method: "totp".into(),
            hint: None,
        },
        NoticeKind::MethodRemoved {
            method: "email".into(),
            hint: Some("t***@example.com".into()),
        },
        NoticeKind::TwoStepOff { until: None },
        NoticeKind::TwoStepOn,
        NoticeKind::TwoStepRemoved,
        NoticeKind::RecoveryCodesRecreated,
        NoticeKind::RecoveryCodeUsed { left: 5 },
        NoticeKind::RecoveryCodeUsed { left: 1 },
        NoticeKind::DeviceRemembered {
            device: "Firefox on Linux".into(),
        },
        NoticeKind::SupportReset {
            reason: "<script>alert(1)</script> lost phone".into(),
        },
        NoticeKind::UnfinishedSignIn,
        NoticeKind::TwoStepOff {
            until: Some(1_800_000_000),
        },
        NoticeKind::TwoStepBackOn,
        NoticeKind::SupportTwoStepOff {
            reason: "travelling, identity checked".into(),
            until: 1_800_000_000,
        },
        NoticeKind::AccountDisabled {
            reason: "<b>abuse</b> report".into(),
        },
        NoticeKind::AccountEnabled,
        NoticeKind::AppSentCode {
            app: "shop".into(),
            method: "sms".into(),
        },
        NoticeKind::PasswordChanged,
        NoticeKind::PasswordReset,
        NoticeKind::SignInEmailChanged {
            hint: "n***@example.com".into(),
        },
        NoticeKind::AccountDeleted { reason: None },
        NoticeKind::AccountDeleted {
            reason: Some("asked by its owner by letter".into()),
        },
    ]
}
