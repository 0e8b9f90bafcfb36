//! What the messages say: a small catalogue per language ([`en`], [`ja`]) behind one trait, and
//! the layout that turns its sentences into a text part, an HTML part and an SMS body.
//!
//! Wording lives only in the language modules so that translations are reviewed in one place
//! and transport code never holds user-facing strings. The HTML part is an askama template
//! (`templates/` of this crate: `email.html` is the layout, `code_email.html` and
//! `notice_email.html` its two bodies), so every interpolated value (user agent, support's
//! reason, device label, issuer) is HTML-escaped by askama, since most of them come from the
//! client or an operator and would otherwise be markup in the user's mailbox. Notices never
//! carry a code or secret: [`NoticeKind`] holds none.

mod en;
mod ja;

use askama::Template;
use nidan_service::UnixTime;
use nidan_service::courier::{CodeMessage, CodePurpose, Locale, Notice, NoticeKind};
use time::OffsetDateTime;

/// A rendered email: subject, plain-text part and HTML part, in one language.
#[derive(Clone, Debug)]
pub struct RenderedEmail {
    /// The subject line.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part (interpolated values escaped); empty if it could not be rendered.
    pub html: String,
}

/// One language's wording. Implemented by `en::En` and `ja::Ja`.
pub(crate) trait Texts: Sync {
    /// The language tag for `<html lang>`.
    fn lang(&self) -> &'static str;
    /// `[<issuer>] Verification code` (a reset link has its own).
    fn code_subject(&self, issuer: &str, purpose: CodePurpose) -> String;
    /// The first sentence of a code email, by purpose.
    fn code_intro(&self, purpose: CodePurpose) -> &'static str;
    /// The label before the code (or the reset link).
    fn code_label(&self, purpose: CodePurpose) -> &'static str;
    /// How long the code stays valid.
    fn code_expiry(&self, valid_minutes: u32) -> String;
    /// What to do if the recipient did not ask for the code.
    fn code_not_you(&self, purpose: CodePurpose) -> &'static str;
    /// The whole SMS body (kept short: one segment where the language allows).
    fn sms(&self, issuer: &str, code: &str, valid_minutes: u32) -> String;
    /// `[<issuer>] Security alert: …`.
    fn notice_subject(&self, issuer: &str, kind: &NoticeKind) -> String;
    /// What happened, in a few words.
    fn notice_headline(&self, kind: &NoticeKind) -> &'static str;
    /// What happened, in sentences (plain text; escaped by the layout for HTML).
    fn notice_details(&self, kind: &NoticeKind) -> Vec<String>;
    /// Label of the time row.
    fn when_label(&self) -> &'static str;
    /// Label of the IP row.
    fn ip_label(&self) -> &'static str;
    /// Label of the user-agent row.
    fn agent_label(&self) -> &'static str;
    /// Label of the country row.
    fn country_label(&self) -> &'static str;
    /// The time of the event, for humans.
    fn when(&self, at: UnixTime) -> String;
    /// "If this wasn't you: …" for notices.
    fn notice_not_you(&self) -> &'static str;
    /// "If this was you, ignore this."
    fn notice_was_you(&self) -> &'static str;
    /// "Contact support: …", before the operator's contact.
    fn support_label(&self) -> &'static str;
    /// The last line: who sent this.
    fn footer(&self, issuer: &str) -> String;
}

/// The catalogue for a locale.
pub(crate) fn texts(locale: Locale) -> &'static dyn Texts {
    match locale {
        Locale::En => &en::En,
        Locale::Ja => &ja::Ja,
    }
}

/// A method's name in English (the wire names are `webauthn`, `totp`, `sms`, `email`,
/// `recovery`).
pub(crate) fn method_name_en(method: &str) -> &str {
    match method {
        "webauthn" => "security key or passkey",
        "totp" => "authenticator app",
        "sms" => "text message (SMS)",
        "email" => "email",
        "recovery" => "recovery codes",
        other => other,
    }
}

/// A method's name in Japanese.
pub(crate) fn method_name_ja(method: &str) -> &str {
    match method {
        "webauthn" => "セキュリティキーまたはパスキー",
        "totp" => "認証アプリ",
        "sms" => "SMS",
        "email" => "メール",
        "recovery" => "リカバリーコード",
        other => other,
    }
}

/// Unix seconds as a UTC date-time, when in range.
pub(crate) fn utc(at: UnixTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(at).ok()
}

/// The HTML part of a code email (`templates/code_email.html`).
#[derive(Template)]
#[template(path = "code_email.html")]
struct CodeHtml<'a> {
    lang: &'a str,
    subject: &'a str,
    intro: &'a str,
    label: &'a str,
    code: &'a str,
    /// The code is a link (a password reset).
    link: bool,
    expiry: &'a str,
    not_you: &'a str,
    footer: &'a str,
}

/// The HTML part of a notice (`templates/notice_email.html`).
#[derive(Template)]
#[template(path = "notice_email.html")]
struct NoticeHtml<'a> {
    lang: &'a str,
    subject: &'a str,
    details: &'a [String],
    rows: &'a [(&'a str, String)],
    not_you: &'a str,
    was_you: &'a str,
    footer: &'a str,
}

/// The HTML part, or none (empty) if rendering failed: the templates only print strings, so
/// that is not expected, and the email then goes as plain text alone.
fn html_part(template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "email HTML rendering failed");
        String::new()
    })
}

/// The email carrying a one-time code.
pub fn code_email(message: &CodeMessage) -> RenderedEmail {
    let t = texts(message.locale);
    let subject = t.code_subject(&message.issuer, message.purpose);
    let intro = t.code_intro(message.purpose);
    let expiry = t.code_expiry(message.valid_minutes);
    let not_you = t.code_not_you(message.purpose);
    let footer = t.footer(&message.issuer);
    let code = message.code.as_str();

    let text = format!(
        "{intro}\n\n{label} {code}\n\n{expiry}\n\n{not_you}\n\n-- \n{footer}\n",
        label = t.code_label(message.purpose)
    );

    let html = html_part(&CodeHtml {
        lang: t.lang(),
        subject: &subject,
        intro,
        label: t.code_label(message.purpose),
        code,
        link: message.purpose == CodePurpose::PasswordReset,
        expiry: &expiry,
        not_you,
        footer: &footer,
    });
    RenderedEmail {
        subject,
        text,
        html,
    }
}

/// The SMS body carrying a one-time code.
pub fn code_sms(message: &CodeMessage) -> String {
    texts(message.locale).sms(&message.issuer, &message.code, message.valid_minutes)
}

/// The email for a security notice. Holds no code or secret.
pub fn notice_email(notice: &Notice) -> RenderedEmail {
    let t = texts(notice.locale);
    let subject = t.notice_subject(&notice.issuer, &notice.kind);
    let details = t.notice_details(&notice.kind);
    let mut rows: Vec<(&str, String)> = vec![(t.when_label(), t.when(notice.at))];
    if let Some(ip) = &notice.ip {
        rows.push((t.ip_label(), ip.clone()));
    }
    if let Some(agent) = &notice.user_agent {
        rows.push((t.agent_label(), agent.clone()));
    }
    if let Some(country) = &notice.country {
        rows.push((t.country_label(), country.clone()));
    }
    let footer = t.footer(&notice.issuer);
    // The operator's support contact, as people write it (an address without `mailto:`).
    let support = notice
        .support
        .as_deref()
        .map(|s| s.strip_prefix("mailto:").unwrap_or(s).to_owned());
    if let Some(contact) = &support {
        rows.push((t.support_label(), contact.clone()));
    }

    let mut text = String::new();
    for line in &details {
        text.push_str(line);
        text.push_str("\n\n");
    }
    for (label, value) in &rows {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str(&format!(
        "\n{}\n{}\n\n-- \n{footer}\n",
        t.notice_not_you(),
        t.notice_was_you()
    ));

    let html = html_part(&NoticeHtml {
        lang: t.lang(),
        subject: &subject,
        details: &details,
        rows: &rows,
        not_you: t.notice_not_you(),
        was_you: t.notice_was_you(),
        footer: &footer,
    });
    RenderedEmail {
        subject,
        text,
        html,
    }
}
