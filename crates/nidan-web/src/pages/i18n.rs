//! Message catalogues and dates in the reader's language.
//!
//! Every word a page shows comes from `locales/{en,ja}/messages.txt` (`key = text` lines, `{name}`
//! placeholders), compiled into the binary with `include_str!` so a deployment cannot lose them.
//! A key missing from a catalogue shows as `⟦key⟧`, which the page tests look for; a simple
//! format was chosen over Fluent because the pages need no plurals or gender, and a flat file is
//! easy for translators to diff.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};
use nidan_service::courier::Locale;

use super::cookies;

const EN: &str = include_str!("../../locales/en/messages.txt");
const JA: &str = include_str!("../../locales/ja/messages.txt");

/// The marker a missing message leaves on a page.
pub const MISSING: &str = "⟦";

fn parse(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue(locale: Locale) -> &'static HashMap<&'static str, &'static str> {
    static CATALOGUES: OnceLock<[HashMap<&'static str, &'static str>; 2]> = OnceLock::new();
    let all = CATALOGUES.get_or_init(|| [parse(EN), parse(JA)]);
    match locale {
        Locale::En => &all[0],
        Locale::Ja => &all[1],
    }
}

/// The keys of a language's catalogue (for tests that compare languages).
pub fn keys(locale: Locale) -> Vec<&'static str> {
    let mut k: Vec<_> = catalogue(locale).keys().copied().collect();
    k.sort_unstable();
    k
}

/// A translator for one language; templates call [`Tr::t`].
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    /// The language.
    pub locale: Locale,
}

impl Tr {
    /// The message `key`, or `⟦key⟧` when the catalogue lacks it.
    pub fn t(&self, key: &str) -> String {
        match catalogue(self.locale).get(key) {
            Some(v) => (*v).to_string(),
            None => format!("{MISSING}{key}⟧"),
        }
    }

    /// The message `key` with `{name}` placeholders filled in.
    pub fn tf(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.t(key);
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// `en` or `ja`, for `<html lang>`.
    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }

    /// How long ago `at` was, as people say it ("just now", "5 minutes ago", "3 hours ago"),
    /// and the date from a day on.
    pub fn ago(&self, now: i64, at: i64) -> String {
        let secs = now.saturating_sub(at).max(0);
        match secs {
            0..60 => self.t("ago-now"),
            60..3600 => self.tf("ago-minutes", &[("n", &(secs / 60).to_string())]),
            3600..86_400 => self.tf("ago-hours", &[("n", &(secs / 3600).to_string())]),
            _ => self.date(at),
        }
    }

    /// A time in the reader's language: `24 Nov 2026, 06:04 UTC` or `2026年11月24日 15:04`
    /// (Japan time).
    pub fn date(&self, unix: i64) -> String {
        let offset = match self.locale {
            Locale::En => 0,
            Locale::Ja => 9 * 3600,
        };
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix.saturating_add(offset)) else {
            return unix.to_string();
        };
        match self.locale {
            Locale::En => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let month = MONTHS[usize::from(u8::from(t.month())) - 1];
                format!(
                    "{} {} {}, {:02}:{:02} UTC",
                    t.day(),
                    month,
                    t.year(),
                    t.hour(),
                    t.minute()
                )
            }
            Locale::Ja => format!(
                "{}年{}月{}日 {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            ),
        }
    }
}

/// The reader's language: the `nidan_lang` cookie when set, else `Accept-Language`.
pub fn locale_of(headers: &HeaderMap, secure: bool) -> Locale {
    cookies::get(headers, cookies::LANG, secure)
        .and_then(|v| Locale::parse(&v))
        .unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Locale::from_accept_language)
                .unwrap_or_default()
        })
}
