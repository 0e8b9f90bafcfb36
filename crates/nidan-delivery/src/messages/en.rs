//! English wording. Every sentence nidan sends in English lives here, so a reviewer or translator
//! reads one file instead of hunting through transport code.

use nidan_service::UnixTime;
use nidan_service::courier::{CodePurpose, NoticeKind};

use super::{Texts, method_name_en, utc};

/// The English catalogue.
pub(crate) struct En;

fn minutes(n: u32) -> String {
    if n == 1 {
        "1 minute".to_owned()
    } else {
        format!("{n} minutes")
    }
}

impl Texts for En {
    fn lang(&self) -> &'static str {
        "en"
    }

    fn code_subject(&self, issuer: &str, purpose: CodePurpose) -> String {
        match purpose {
            CodePurpose::PasswordReset => format!("[{issuer}] Reset your password"),
            _ => format!("[{issuer}] Verification code"),
        }
    }

    fn code_intro(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::SignIn => "Use this code to finish signing in.",
            CodePurpose::Enrolment => {
                "Use this code to confirm this address for two-step verification."
            }
            CodePurpose::NewCountry => {
                "We detected a sign-in to your account from a new country. \
                 Enter this code to confirm that it is you."
            }
            CodePurpose::NewSignInEmail => {
                "Use this code to make this address the email you sign in with."
            }
            CodePurpose::PasswordReset => {
                "Someone asked to reset the password of the account that signs in with this \
                 address. Your two-step verification stays as it is: after choosing a new \
                 password you sign in with it and your second step."
            }
        }
    }

    fn code_label(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::PasswordReset => {
                "Open this link to choose a new password (it works once):"
            }
            _ => "Your verification code:",
        }
    }

    fn code_expiry(&self, valid_minutes: u32) -> String {
        format!("It expires in {}.", minutes(valid_minutes))
    }

    fn code_not_you(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::Enrolment | CodePurpose::NewSignInEmail => {
                "If this wasn't you, ignore this message: the address will not be added."
            }
            CodePurpose::PasswordReset => {
                "If you did not ask for this, ignore this message: your password stays as it is."
            }
            CodePurpose::SignIn | CodePurpose::NewCountry => {
                "If this wasn't you, do not share this code with anyone: someone may know your \
                 password. Change your password and contact support."
            }
        }
    }

    fn sms(&self, issuer: &str, code: &str, valid_minutes: u32) -> String {
        format!(
            "{issuer}: {code} is your verification code. It expires in {}.",
            minutes(valid_minutes)
        )
    }

    fn notice_subject(&self, issuer: &str, kind: &NoticeKind) -> String {
        format!("[{issuer}] Security alert: {}", self.notice_headline(kind))
    }

    fn notice_headline(&self, kind: &NoticeKind) -> &'static str {
        match kind {
            NoticeKind::MethodAdded { .. } => "a two-step verification method was added",
            NoticeKind::MethodRemoved { .. } => "a two-step verification method was removed",
            NoticeKind::TwoStepOff { .. } => "two-step verification turned off",
            NoticeKind::TwoStepBackOn => "two-step verification is on again",
            NoticeKind::SupportTwoStepOff { .. } => "support turned two-step verification off",
            NoticeKind::AccountDisabled { .. } => "your account was disabled",
            NoticeKind::AccountEnabled => "your account was enabled again",
            NoticeKind::AppSentCode { .. } => "an app asked for a code for your account",
            NoticeKind::TwoStepOn => "two-step verification turned on",
            NoticeKind::TwoStepRemoved => "two-step verification removed",
            NoticeKind::RecoveryCodesRecreated => "new recovery codes were created",
            NoticeKind::RecoveryCodeUsed { .. } => "a recovery code was used",
            NoticeKind::DeviceRemembered { .. } => "a device was remembered",
            NoticeKind::SupportReset { .. } => "two-step verification was reset by support",
            NoticeKind::UnfinishedSignIn => "a sign-in was started but not finished",
            NoticeKind::PasswordChanged => "your password was changed",
            NoticeKind::PasswordReset => "your password was reset",
            NoticeKind::SignInEmailChanged { .. } => "your sign-in email was changed",
            NoticeKind::AccountDeleted { .. } => "your account was deleted",
        }
    }

    fn notice_details(&self, kind: &NoticeKind) -> Vec<String> {
        let with_hint = |method: &str, hint: &Option<String>| match hint {
            Some(h) => format!("{} ({h})", method_name_en(method)),
            None => method_name_en(method).to_owned(),
        };
        match kind {
            NoticeKind::MethodAdded { method, hint } => vec![format!(
                "A two-step verification method was added to your account: {}.",
                with_hint(method, hint)
            )],
            NoticeKind::MethodRemoved { method, hint } => vec![format!(
                "A two-step verification method was removed from your account: {}.",
                with_hint(method, hint)
            )],
            NoticeKind::TwoStepOff { until: None } => vec![
                "Two-step verification was turned off for your account. Signing in now needs \
                 only your password."
                    .to_owned(),
            ],
            NoticeKind::TwoStepOff { until: Some(until) } => vec![
                "Two-step verification was turned off for your account. Signing in now needs \
                 only your password."
                    .to_owned(),
                format!("It turns back on by itself on {}.", self.when(*until)),
            ],
            NoticeKind::TwoStepBackOn => vec![
                "Two-step verification is on again for your account: the time it was off for \
                 has ended. Every session was signed out; sign in with your second step."
                    .to_owned(),
            ],
            NoticeKind::SupportTwoStepOff { reason, until } => vec![
                "Support turned two-step verification off for your account after checking your \
                 identity. Your methods and recovery codes are kept."
                    .to_owned(),
                format!("It turns back on by itself on {}.", self.when(*until)),
                format!("Reason given: {reason}"),
            ],
            NoticeKind::AccountDisabled { reason } => vec![
                "Support disabled your account: it cannot sign in, and every session was signed \
                 out."
                    .to_owned(),
                format!("Reason given: {reason}"),
            ],
            NoticeKind::AccountEnabled => {
                vec!["Support enabled your account again: you can sign in.".to_owned()]
            }
            NoticeKind::AppSentCode { app, method } => vec![format!(
                "The app \u{201c}{app}\u{201d} asked for a verification code for your account, sent by {}. \
                 This is the first time it did; you will not be told again for this app.",
                method_name_en(method)
            )],
            NoticeKind::TwoStepOn => {
                vec!["Two-step verification was turned on for your account.".to_owned()]
            }
            NoticeKind::TwoStepRemoved => vec![
                "Two-step verification was removed from your account, with all its methods and \
                 recovery codes."
                    .to_owned(),
            ],
            NoticeKind::RecoveryCodesRecreated => vec![
                "A new set of recovery codes was created for your account. The old codes no \
                 longer work."
                    .to_owned(),
            ],
            NoticeKind::RecoveryCodeUsed { left } => {
                let mut lines = vec![format!(
                    "A recovery code was used to sign in to your account. Recovery codes left: {left}."
                )];
                if *left <= 2 {
                    lines.push(
                        "Few recovery codes are left: create a new set so you cannot be locked out."
                            .to_owned(),
                    );
                }
                lines
            }
            NoticeKind::DeviceRemembered { device } => vec![format!(
                "A device was remembered and will skip the second step for a while: {device}."
            )],
            NoticeKind::SupportReset { reason } => vec![
                "Support reset two-step verification for your account: every method, session and \
                 remembered device was removed."
                    .to_owned(),
                format!("Reason given: {reason}"),
            ],
            NoticeKind::UnfinishedSignIn => vec![
                "Your password was entered correctly, but the second step was not completed \
                 within 10 minutes. Someone else may know your password."
                    .to_owned(),
            ],
            NoticeKind::PasswordChanged => vec![
                "The password of your account was changed. Every other session was signed out \
                 and every remembered device forgotten."
                    .to_owned(),
            ],
            NoticeKind::PasswordReset => vec![
                "The password of your account was set with a reset link sent to this address. \
                 Every session was signed out and every remembered device forgotten; two-step \
                 verification stays as it was."
                    .to_owned(),
            ],
            NoticeKind::SignInEmailChanged { hint } => vec![format!(
                "Your account now signs in with another email address: {hint}. Messages about \
                 the account go there from now on."
            )],
            NoticeKind::AccountDeleted { reason } => {
                let mut lines = vec![
                    "Your account was deleted, with its two-step verification, sessions, devices \
                     and history. This is the last message about it."
                        .to_owned(),
                ];
                if let Some(reason) = reason {
                    lines.push(format!("Support deleted it. Reason given: {reason}"));
                }
                lines
            }
        }
    }

    fn when_label(&self) -> &'static str {
        "When"
    }

    fn ip_label(&self) -> &'static str {
        "IP address"
    }

    fn agent_label(&self) -> &'static str {
        "Browser or app"
    }

    fn country_label(&self) -> &'static str {
        "Country"
    }

    fn when(&self, at: UnixTime) -> String {
        match utc(at) {
            Some(t) => format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            ),
            None => format!("{at} (Unix time)"),
        }
    }

    fn notice_not_you(&self) -> &'static str {
        "If this wasn't you: change your password right away and contact support."
    }

    fn notice_was_you(&self) -> &'static str {
        "If this was you, you can ignore this message."
    }

    fn support_label(&self) -> &'static str {
        "Contact support"
    }

    fn footer(&self, issuer: &str) -> String {
        format!("This message was sent by {issuer} two-step verification.")
    }
}
