//! Hiding secrets when the configuration is printed (`Debug`, error messages), so a log line
//! never carries a password or token.

use std::fmt;

use super::{DatabaseConfig, EmailConfig, SmsConfig};

/// What a hidden value prints as.
pub(super) const REDACTED: &str = "<redacted>";

/// Query parameters whose values look secret (compared in lowercase, by substring).
const SECRET_PARAMS: &[&str] = &["pass", "pwd", "token", "secret", "key", "auth", "sig"];

/// `url` with the password of its user-info part and the values of secret-looking query
/// parameters replaced: `postgres://app:hunter2@db/nidan?sslpassword=x` →
/// `postgres://app:<redacted>@db/nidan?sslpassword=<redacted>`.
pub(super) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return redact_query(url);
    };
    let rest = &url[scheme_end..];
    // The user-info ends at the last `@` before any query or fragment. Looking past the first `/`
    // keeps an unescaped `/` in a password hidden too; a path with `@` may be over-redacted, which
    // is the safe side.
    let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
    let authority_end = match rest[..query_start].rfind('@') {
        Some(at) => rest[at..query_start]
            .find('/')
            .map_or(query_start, |i| at + i),
        None => rest[..query_start].find('/').unwrap_or(query_start),
    };
    let authority = &rest[..authority_end];
    let mut out = url[..scheme_end].to_owned();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(REDACTED);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(&redact_query(&rest[authority_end..]));
    out
}

/// `tail` (path, query, fragment) with secret-looking query values replaced.
fn redact_query(tail: &str) -> String {
    let Some((path, after)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let (query, fragment) = match after.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (after, None),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{path}?{}", params.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// An optional secret as it should print: present or not, never its value.
pub(super) fn redact_opt(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| REDACTED)
}

// Hand-written Debug for the sections that hold secrets. Each destructures `self`, so a new
// field does not compile until someone decides whether it is secret.

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            url,
            max_connections,
            connect_timeout_secs,
            statement_timeout_secs,
        } = self;
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(url))
            .field("max_connections", max_connections)
            .field("connect_timeout_secs", connect_timeout_secs)
            .field("statement_timeout_secs", statement_timeout_secs)
            .finish()
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            smtp_url,
            from,
            separate_address,
            max_per_hour,
        } = self;
        f.debug_struct("EmailConfig")
            .field("smtp_url", &smtp_url.as_deref().map(redact_url))
            .field("from", from)
            .field("separate_address", separate_address)
            .field("max_per_hour", max_per_hour)
            .finish()
    }
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            provider,
            url,
            authorization,
            account_sid,
            auth_token,
            from,
            base_url,
            default_region,
            max_per_hour,
            allowed_countries,
        } = self;
        f.debug_struct("SmsConfig")
            .field("provider", provider)
            .field("url", &url.as_deref().map(redact_url))
            .field("authorization", &redact_opt(authorization))
            .field("account_sid", account_sid)
            .field("auth_token", &redact_opt(auth_token))
            .field("from", from)
            .field("base_url", &redact_url(base_url))
            .field("default_region", default_region)
            .field("max_per_hour", max_per_hour)
            .field("allowed_countries", allowed_countries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords_and_secret_params() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/nidan?sslmode=require&password=x2#f"),
            "postgres://app:<redacted>@db:5432/nidan?sslmode=require&password=<redacted>#f"
        );
        assert_eq!(
            redact_url("smtps://mailer:p%40ss:w@mail.example.com:465"),
            "smtps://mailer:<redacted>@mail.example.com:465"
        );
        assert_eq!(
            redact_url("postgres://app:a/b+c=@db/nidan"),
            "postgres://app:<redacted>@db/nidan"
        );
        assert_eq!(redact_url("smtp://localhost:25"), "smtp://localhost:25");
        assert_eq!(redact_url("smtp://user@localhost"), "smtp://user@localhost");
        assert_eq!(
            redact_url("https://hooks.example/sms?api_key=abc&to=1"),
            "https://hooks.example/sms?api_key=<redacted>&to=1"
        );
        assert_eq!(
            redact_url("sqlite://./nidan-data/nidan.db"),
            "sqlite://./nidan-data/nidan.db"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
