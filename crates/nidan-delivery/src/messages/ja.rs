//! Japanese wording (日本語). Every sentence nidan sends in Japanese lives here; times are shown in
//! JST with UTC beside them, since Japanese readers think in JST but logs are in UTC.

use nidan_service::UnixTime;
use nidan_service::courier::{CodePurpose, NoticeKind};
use time::UtcOffset;

use super::{Texts, method_name_ja, utc};

/// The Japanese catalogue.
pub(crate) struct Ja;

impl Texts for Ja {
    fn lang(&self) -> &'static str {
        "ja"
    }

    fn code_subject(&self, issuer: &str, purpose: CodePurpose) -> String {
        match purpose {
            CodePurpose::PasswordReset => format!("[{issuer}] パスワードの再設定"),
            _ => format!("[{issuer}] 確認コード"),
        }
    }

    fn code_intro(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::SignIn => "サインインを完了するには、次の確認コードを入力してください。",
            CodePurpose::Enrolment => {
                "このアドレスを2段階認証に使うことを確認するため、次のコードを入力してください。"
            }
            CodePurpose::NewCountry => {
                "これまでと異なる国からのサインインを検出しました。\
                 ご本人であることを確認するため、次のコードを入力してください。"
            }
            CodePurpose::NewSignInEmail => {
                "このアドレスをサインイン用のメールアドレスにするには、次のコードを入力してください。"
            }
            CodePurpose::PasswordReset => {
                "このアドレスでサインインするアカウントのパスワード再設定が求められました。\
                 2段階認証はそのままです。新しいパスワードを設定した後も、\
                 サインインには2段階目が必要です。"
            }
        }
    }

    fn code_label(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::PasswordReset => {
                "次のリンクを開いて新しいパスワードを設定してください（1回のみ有効）:"
            }
            _ => "確認コード:",
        }
    }

    fn code_expiry(&self, valid_minutes: u32) -> String {
        format!("有効期限は{valid_minutes}分です。")
    }

    fn code_not_you(&self, purpose: CodePurpose) -> &'static str {
        match purpose {
            CodePurpose::Enrolment | CodePurpose::NewSignInEmail => {
                "お心当たりがない場合は、このメッセージを無視してください。アドレスは追加されません。"
            }
            CodePurpose::PasswordReset => {
                "お心当たりがない場合は、このメッセージを無視してください。パスワードは変わりません。"
            }
            CodePurpose::SignIn | CodePurpose::NewCountry => {
                "お心当たりがない場合は、このコードを誰にも教えないでください。第三者があなたの\
                 パスワードを知っている可能性があります。パスワードを変更し、サポートにご連絡ください。"
            }
        }
    }

    fn sms(&self, issuer: &str, code: &str, valid_minutes: u32) -> String {
        format!("{issuer}: 確認コードは {code} です。有効期限は{valid_minutes}分です。")
    }

    fn notice_subject(&self, issuer: &str, kind: &NoticeKind) -> String {
        format!(
            "[{issuer}] セキュリティ通知: {}",
            self.notice_headline(kind)
        )
    }

    fn notice_headline(&self, kind: &NoticeKind) -> &'static str {
        match kind {
            NoticeKind::MethodAdded { .. } => "2段階認証の方法が追加されました",
            NoticeKind::MethodRemoved { .. } => "2段階認証の方法が削除されました",
            NoticeKind::TwoStepOff { .. } => "2段階認証がオフになりました",
            NoticeKind::TwoStepBackOn => "2段階認証がオンに戻りました",
            NoticeKind::SupportTwoStepOff { .. } => "サポートが2段階認証をオフにしました",
            NoticeKind::AccountDisabled { .. } => "アカウントが無効になりました",
            NoticeKind::AccountEnabled => "アカウントが有効に戻りました",
            NoticeKind::AppSentCode { .. } => "アプリが確認コードを要求しました",
            NoticeKind::TwoStepOn => "2段階認証がオンになりました",
            NoticeKind::TwoStepRemoved => "2段階認証が削除されました",
            NoticeKind::RecoveryCodesRecreated => "リカバリーコードが再発行されました",
            NoticeKind::RecoveryCodeUsed { .. } => "リカバリーコードが使用されました",
            NoticeKind::DeviceRemembered { .. } => "デバイスが記憶されました",
            NoticeKind::SupportReset { .. } => "サポートが2段階認証をリセットしました",
            NoticeKind::UnfinishedSignIn => "完了しなかったサインインがあります",
            NoticeKind::PasswordChanged => "パスワードが変更されました",
            NoticeKind::PasswordReset => "パスワードが再設定されました",
            NoticeKind::SignInEmailChanged { .. } => "サインイン用のメールアドレスが変更されました",
            NoticeKind::AccountDeleted { .. } => "アカウントが削除されました",
        }
    }

    fn notice_details(&self, kind: &NoticeKind) -> Vec<String> {
        let with_hint = |method: &str, hint: &Option<String>| match hint {
            Some(h) => format!("{}（{h}）", method_name_ja(method)),
            None => method_name_ja(method).to_owned(),
        };
        match kind {
            NoticeKind::MethodAdded { method, hint } => vec![format!(
                "あなたのアカウントに2段階認証の方法が追加されました: {}",
                with_hint(method, hint)
            )],
            NoticeKind::MethodRemoved { method, hint } => vec![format!(
                "あなたのアカウントから2段階認証の方法が削除されました: {}",
                with_hint(method, hint)
            )],
            NoticeKind::TwoStepOff { until: None } => vec![
                "あなたのアカウントの2段階認証がオフになりました。現在はパスワードだけでサインインできます。"
                    .to_owned(),
            ],
            NoticeKind::TwoStepOff { until: Some(until) } => vec![
                "あなたのアカウントの2段階認証がオフになりました。現在はパスワードだけでサインインできます。"
                    .to_owned(),
                format!("{}に自動的にオンに戻ります。", self.when(*until)),
            ],
            NoticeKind::TwoStepBackOn => vec![
                "オフにしていた期間が終わり、2段階認証がオンに戻りました。\
                 すべてのセッションがログアウトされました。2段階目を使ってログインしてください。"
                    .to_owned(),
            ],
            NoticeKind::SupportTwoStepOff { reason, until } => vec![
                "ご本人確認のうえ、サポートがアカウントの2段階認証をオフにしました。\
                 登録済みの方法とリカバリーコードはそのままです。"
                    .to_owned(),
                format!("{}に自動的にオンに戻ります。", self.when(*until)),
                format!("理由: {reason}"),
            ],
            NoticeKind::AccountDisabled { reason } => vec![
                "サポートがアカウントを無効にしました。ログインできず、すべてのセッションがログアウトされました。"
                    .to_owned(),
                format!("理由: {reason}"),
            ],
            NoticeKind::AccountEnabled => {
                vec!["サポートがアカウントを有効に戻しました。ログインできます。".to_owned()]
            }
            NoticeKind::AppSentCode { app, method } => vec![format!(
                "アプリ「{app}」があなたのアカウントの確認コードを要求し、{}で送信しました。\
                 このアプリからは初めてです。次回からはお知らせしません。",
                method_name_ja(method)
            )],
            NoticeKind::TwoStepOn => {
                vec!["あなたのアカウントの2段階認証がオンになりました。".to_owned()]
            }
            NoticeKind::TwoStepRemoved => vec![
                "あなたのアカウントから2段階認証が、すべての方法とリカバリーコードとともに削除されました。"
                    .to_owned(),
            ],
            NoticeKind::RecoveryCodesRecreated => vec![
                "あなたのアカウントのリカバリーコードが新しく発行されました。以前のコードは使えなくなりました。"
                    .to_owned(),
            ],
            NoticeKind::RecoveryCodeUsed { left } => {
                let mut lines = vec![format!(
                    "リカバリーコードを使ってあなたのアカウントにサインインがありました。残りのリカバリーコード: {left}個"
                )];
                if *left <= 2 {
                    lines.push(
                        "リカバリーコードが残りわずかです。締め出されないよう、新しいコードを発行してください。"
                            .to_owned(),
                    );
                }
                lines
            }
            NoticeKind::DeviceRemembered { device } => vec![format!(
                "次のデバイスが記憶され、しばらくの間2段階目を省略してサインインできます: {device}"
            )],
            NoticeKind::SupportReset { reason } => vec![
                "サポートがあなたのアカウントの2段階認証をリセットしました。すべての方法、セッション、\
                 記憶されたデバイスが削除されました。"
                    .to_owned(),
                format!("理由: {reason}"),
            ],
            NoticeKind::UnfinishedSignIn => vec![
                "正しいパスワードが入力されましたが、10分以内に2段階目が完了しませんでした。\
                 第三者があなたのパスワードを知っている可能性があります。"
                    .to_owned(),
            ],
            NoticeKind::PasswordChanged => vec![
                "アカウントのパスワードが変更されました。ほかのセッションはすべてサインアウトされ、\
                 記憶されたデバイスはすべて解除されました。"
                    .to_owned(),
            ],
            NoticeKind::PasswordReset => vec![
                "このアドレスに送られた再設定リンクで、アカウントのパスワードが設定されました。\
                 すべてのセッションがサインアウトされ、記憶されたデバイスはすべて解除されました。\
                 2段階認証は変わっていません。"
                    .to_owned(),
            ],
            NoticeKind::SignInEmailChanged { hint } => vec![format!(
                "アカウントのサインイン用メールアドレスが {hint} に変更されました。\
                 今後のお知らせはそちらに届きます。"
            )],
            NoticeKind::AccountDeleted { reason } => {
                let mut lines = vec![
                    "アカウントが削除されました。2段階認証、セッション、デバイス、履歴もすべて削除されています。\
                     このアカウントについてのお知らせはこれが最後です。"
                        .to_owned(),
                ];
                if let Some(reason) = reason {
                    lines.push(format!("サポートが削除しました。理由: {reason}"));
                }
                lines
            }
        }
    }

    fn when_label(&self) -> &'static str {
        "日時"
    }

    fn ip_label(&self) -> &'static str {
        "IPアドレス"
    }

    fn agent_label(&self) -> &'static str {
        "ブラウザ・アプリ"
    }

    fn country_label(&self) -> &'static str {
        "国"
    }

    fn when(&self, at: UnixTime) -> String {
        let Some(t) = utc(at) else {
            return format!("{at}（Unix 時刻）");
        };
        let jst = match UtcOffset::from_hms(9, 0, 0) {
            Ok(offset) => t.to_offset(offset),
            Err(_) => t,
        };
        format!(
            "{}年{}月{}日 {:02}:{:02} JST（{:02}:{:02} UTC）",
            jst.year(),
            u8::from(jst.month()),
            jst.day(),
            jst.hour(),
            jst.minute(),
            t.hour(),
            t.minute()
        )
    }

    fn notice_not_you(&self) -> &'static str {
        "お心当たりがない場合: すぐにパスワードを変更し、サポートにご連絡ください。"
    }

    fn notice_was_you(&self) -> &'static str {
        "ご本人による操作であれば、このメッセージは無視してください。"
    }

    fn support_label(&self) -> &'static str {
        "サポートへのお問い合わせ"
    }

    fn footer(&self, issuer: &str) -> String {
        format!("このメッセージは {issuer} の2段階認証から送信されました。")
    }
}
