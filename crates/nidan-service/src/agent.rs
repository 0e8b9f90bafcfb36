//! A client's user agent in words people recognise: "Chrome on Windows 10", "Safari on iPhone".
//!
//! Why `woothee`: user-agent strings are a moving target that a hand-written list of substrings
//! gets wrong (every Chromium browser says "Safari", Edge says "Chrome"). woothee is a
//! multi-language project whose one dataset of browsers, operating systems and crawlers is
//! compiled into the crate: no file to ship or update at run time, and it is small (two regex
//! crates nidan already uses). uap-core based parsers know more devices but load a large
//! regex file at start.

use woothee::parser::Parser;

/// What woothee answers when it does not know.
const UNKNOWN: &str = "UNKNOWN";

/// "Browser on system", the one that is known, or the raw text cut short when neither is.
pub fn describe(user_agent: &str) -> String {
    let parsed = Parser::new().parse(user_agent);
    let (browser, os) = match &parsed {
        Some(r) => (known(r.name), known(r.os)),
        None => (None, None),
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) if user_agent.trim().is_empty() => "Unknown device".to_owned(),
        (None, None) => crate::signin::clip(user_agent, 40),
    }
}

fn known(name: &str) -> Option<&str> {
    (!name.is_empty() && name != UNKNOWN).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_browsers_read_as_people_name_them() {
        for (ua, expected) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Windows 10",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            ("", "Unknown device"),
            ("nidan-test/1.0 (Linux)", "Linux"),
        ] {
            assert_eq!(describe(ua), expected, "{ua}");
        }
    }
}
