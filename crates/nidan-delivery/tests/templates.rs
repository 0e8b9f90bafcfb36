//! The message catalogue: every notice in both languages, escaping, no leftovers, no secrets.

use nidan_delivery::messages::{code_email, code_sms, notice_email};
use nidan_service::courier::{Channel, CodePurpose, Locale, NoticeKind};

use crate::common::{code, every_notice_kind, notice};

#[test]
fn every_notice_kind_renders_in_both_languages() {
    for locale in [Locale::En, Locale::Ja] {
        for kind in every_notice_kind() {
            let email = notice_email(&notice(kind.clone(), locale));
            let (prefix, not_you) = match locale {
                Locale::En => ("[nidan] Security alert: ", "If this wasn't you: "),
                Locale::Ja => ("[nidan] セキュリティ通知: ", "お心当たりがない場合: "),
            };
            assert!(email.subject.starts_with(prefix), "{}", email.subject);
            assert!(email.subject.len() > prefix.len());
            assert!(email.text.contains(not_you), "{kind:?}: {}", email.text);
            assert!(email.text.contains("203.0.113.9"));
            assert!(email.text.contains("JP"));
            assert!(
                email.text.contains("help@example.com") && !email.text.contains("mailto:"),
                "the operator's support contact, as people write it: {}",
                email.text
            );
            assert!(email.html.starts_with("<!DOCTYPE html>"));
            assert!(email.html.contains("203.0.113.9"));
            assert!(
                email
                    .html
                    .contains(&format!("<html lang=\"{}\">", locale.as_str()))
            );
            for part in [&email.subject, &email.text, &email.html] {
                assert!(
                    !part.contains('{') && !part.contains('}'),
                    "placeholder left: {part}"
                );
            }
            // The user agent carries markup; it must be escaped in HTML.
            assert!(
                email
                    .html
                    .contains("Mozilla/5.0 &#60;b&#62;Firefox&#60;/b&#62;")
            );
            assert!(!email.html.contains("<b>Firefox"));
        }
    }
}

#[test]
fn each_kind_has_its_own_subject() {
    for locale in [Locale::En, Locale::Ja] {
        let mut subjects: Vec<String> = every_notice_kind()
            .into_iter()
            .map(|kind| notice_email(&notice(kind, locale)).subject)
            .collect();
        subjects.sort();
        subjects.dedup();
        // MethodAdded, RecoveryCodeUsed, TwoStepOff and AccountDeleted appear twice in the list.
        assert_eq!(
            subjects.len(),
            every_notice_kind().len() - 4,
            "{subjects:?}"
        );
    }
}

#[test]
fn the_support_reason_is_escaped_in_html() {
    let kind = NoticeKind::SupportReset {
        reason: "<script>alert(1)</script> & \"x\"".into(),
    };
    for locale in [Locale::En, Locale::Ja] {
        let email = notice_email(&notice(kind.clone(), locale));
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(
            email
                .html
                .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;x&#34;")
        );
        assert!(
            email.text.contains("<script>alert(1)</script>"),
            "the text part is plain text"
        );
    }
}

#[test]
fn times_are_utc_and_for_japanese_also_jst() {
    let en = notice_email(&notice(NoticeKind::TwoStepOn, Locale::En));
    assert!(
        en.text.contains("When: 2026-05-01 12:34 UTC"),
        "{}",
        en.text
    );
    let ja = notice_email(&notice(NoticeKind::TwoStepOn, Locale::Ja));
    assert!(
        ja.text
            .contains("日時: 2026年5月1日 21:34 JST（12:34 UTC）"),
        "{}",
        ja.text
    );
}

#[test]
fn unknown_details_are_left_out() {
    let mut n = notice(NoticeKind::UnfinishedSignIn, Locale::En);
    n.ip = None;
    n.user_agent = None;
    n.country = None;
    let email = notice_email(&n);
    assert!(!email.text.contains("IP address"));
    assert!(!email.text.contains("Browser or app"));
    assert!(email.text.contains("Someone else may know your password"));
}

#[test]
fn few_recovery_codes_left_gives_a_warning() {
    let low = notice_email(&notice(
        NoticeKind::RecoveryCodeUsed { left: 1 },
        Locale::En,
    ));
    assert!(low.text.contains("create a new set"));
    let plenty = notice_email(&notice(
        NoticeKind::RecoveryCodeUsed { left: 6 },
        Locale::En,
    ));
    assert!(!plenty.text.contains("create a new set"));
    let ja = notice_email(&notice(
        NoticeKind::RecoveryCodeUsed { left: 2 },
        Locale::Ja,
    ));
    assert!(ja.text.contains("残りわずか"));
}

#[test]
fn code_messages_cover_every_purpose() {
    for locale in [Locale::En, Locale::Ja] {
        for purpose in [
            CodePurpose::SignIn,
            CodePurpose::Enrolment,
            CodePurpose::NewCountry,
        ] {
            let m = code(
                Channel::Email,
                "taro@example.test",
                "123456",
                purpose,
                locale,
            );
            let email = code_email(&m);
            assert!(email.text.contains("123456") && email.html.contains("123456"));
            for part in [&email.subject, &email.text, &email.html] {
                assert!(!part.contains('{') && !part.contains('}'), "{part}");
            }
        }
    }
    let mut m = code(
        Channel::Email,
        "a@b.test",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    m.issuer = "Acme <Corp>".into();
    let email = code_email(&m);
    assert_eq!(email.subject, "[Acme <Corp>] Verification code");
    assert!(email.html.contains("Acme &#60;Corp&#62;"));
    assert!(!email.html.contains("<Corp>"));
}

#[test]
fn sms_bodies_are_short() {
    let mut m = code(
        Channel::Sms,
        "+819012345678",
        "123456",
        CodePurpose::SignIn,
        Locale::En,
    );
    assert_eq!(
        code_sms(&m),
        "nidan: 123456 is your verification code. It expires in 5 minutes."
    );
    m.valid_minutes = 1;
    assert!(code_sms(&m).ends_with("It expires in 1 minute."));
    m.locale = Locale::Ja;
    m.valid_minutes = 5;
    assert_eq!(
        code_sms(&m),
        "nidan: 確認コードは 123456 です。有効期限は5分です。"
    );
    assert!(code_sms(&m).chars().count() <= 70, "one UCS-2 segment");
}

#[test]
fn escaping_covers_the_five_characters() {
    let kind = NoticeKind::SupportReset {
        reason: r#"<a href="x">'&'</a>"#.into(),
    };
    let email = notice_email(&notice(kind, Locale::En));
    assert!(
        email
            .html
            .contains("&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;"),
        "{}",
        email.html
    );
}
