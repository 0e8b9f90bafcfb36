//! The pages' cookies, in one place so every flag is decided once.
//!
//! Names: with an https `public_url` every cookie carries the `__Host-` prefix, which browsers
//! accept only with `Secure`, `Path=/` and no `Domain` — so no other host or path can plant or
//! shadow them, and only the prefixed names are read back. On plain-http (a localhost trial) a
//! `__Host-` cookie would be refused outright by browsers, so the same cookies go without the
//! prefix and without `Secure`.
//!
//! The session cookie is the one exception when `[session] cookie_domain` is set: it must reach
//! the apps on the hosts under that domain (forward-auth), so it carries `Domain=` and is named
//! `__Secure-nidan_session` over https (`__Secure-` asks for `Secure` only; `__Host-` forbids a
//! domain). Every other cookie stays with nidan's own host.
//!
//! The CSRF token's cookie is one of them; the check of posted forms against it is
//! `super::csrf::CsrfForm`.

use axum::http::{HeaderMap, HeaderValue, header};
use data_encoding::BASE64URL_NOPAD;

/// The session token (from the service).
pub const SESSION: &str = "nidan_session";
/// The CSRF value.
pub const CSRF: &str = "nidan_csrf";
/// The sign-in challenge between the password page and the second step.
pub const CHALLENGE: &str = "nidan_challenge";
/// A remembered device's token.
pub const DEVICE: &str = "nidan_device";
/// The chosen language.
pub const LANG: &str = "nidan_lang";
/// A passkey sign-in started in this browser (its ceremony token), for five minutes.
pub const PASSKEY: &str = "nidan_passkey";
/// Where to go back to after signing in (a checked `rd`), for ten minutes.
pub const RETURN: &str = "nidan_return";

/// Where the session cookie is sent: nidan's own host, or every host under a domain.
#[derive(Clone, Copy, Debug)]
pub struct SessionCookie<'a> {
    /// Served over https.
    pub secure: bool,
    /// `[session] cookie_domain`.
    pub domain: Option<&'a str>,
}

impl SessionCookie<'_> {
    /// The prefix of the name as sent.
    fn prefix(self) -> &'static str {
        match (self.secure, self.domain) {
            (true, Some(_)) => "__Secure-",
            (true, None) => "__Host-",
            (false, _) => "",
        }
    }

    /// The name as sent.
    pub fn name(self) -> String {
        format!("{}{SESSION}", self.prefix())
    }

    /// The session token a request carries, under the one name it is set with (asked on every
    /// forward-auth request: nothing is allocated but the answer).
    pub fn get(self, headers: &HeaderMap) -> Option<String> {
        get_named(headers, self.prefix(), SESSION)
    }

    /// A `Set-Cookie` for `token` (an empty token with `max_age` 0 deletes it).
    pub fn set(self, token: &str, max_age: Option<i64>) -> HeaderValue {
        let mut c = format!("{}={}; Path=/; HttpOnly; SameSite=Lax", self.name(), token);
        if let Some(domain) = self.domain {
            c.push_str("; Domain=");
            c.push_str(domain);
        }
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("nidan_invalid=1"))
    }
}

/// The cookie name as sent: `__Host-<name>` over https, `<name>` otherwise.
pub fn name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// The value of cookie `base` under the one name it is set with: over https only
/// `__Host-<base>` is read, so a plain-named cookie planted by a sibling host or a
/// man-in-the-middle on http is never believed.
pub fn get(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    get_named(headers, if secure { "__Host-" } else { "" }, base)
}

/// The value of the cookie named exactly `prefix` + `base`.
fn get_named(headers: &HeaderMap, prefix: &str, base: &str) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k.strip_prefix(prefix) == Some(base) && !v.is_empty() {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when `secure`; `max_age` in
/// seconds (`None`: a browser-session cookie; `Some(0)`: delete).
pub fn set(base: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax",
        name(base, secure),
        value
    );
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("nidan_invalid=1"))
}

/// A deleting `Set-Cookie`.
pub fn clear(base: &str, secure: bool) -> HeaderValue {
    set(base, "", secure, Some(0))
}

/// A fresh random token (256 bits, base64url).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: refuse every form rather than issue a guessable token.
        return String::new();
    }
    BASE64URL_NOPAD.encode(&bytes)
}
