//! The `otpauth://` key URI shown as a QR code at enrolment (Google Authenticator "Key Uri
//! Format"), and its parser for imports.
//!
//! This module exists so that the URI every authenticator app scans is built in one place,
//! exactly as apps expect. It guarantees:
//!
//! - the form `otpauth://totp/<Issuer>:<account>?secret=<BASE32 no padding>&issuer=<Issuer>`,
//!   with the issuer in both places (older apps read the label, newer ones the parameter);
//! - issuer and account percent-encoded, keeping only RFC 3986 unreserved characters
//!   (`@` -> `%40`, space -> `%20`), and neither may contain `:`;
//! - parsing accepts what [`otpauth_uri`] builds and the wiki's examples, and refuses
//!   parameters nidan cannot honour (any algorithm but SHA1, digits but 6, period but 30),
//!   since apps would silently ignore them and show wrong codes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::secret::TotpSecret;

/// Everything but RFC 3986 unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~").
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a key URI could not be built or parsed. Messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpauthError {
    /// The issuer is empty (or only spaces), or missing from both label and parameters.
    #[error("the issuer is empty")]
    EmptyIssuer,
    /// The account name is empty (or only spaces).
    #[error("the account name is empty")]
    EmptyAccount,
    /// A `:` in the issuer or account (it separates them in the label).
    #[error("the issuer and account may not contain ':'")]
    ColonInLabel,
    /// Not an `otpauth://` URI.
    #[error("not an otpauth:// URI")]
    NotOtpauth,
    /// An `otpauth://` URI of another type (e.g. `hotp`).
    #[error("not a TOTP key URI")]
    NotTotp,
    /// No `secret` parameter.
    #[error("the URI has no secret")]
    MissingSecret,
    /// The secret is not valid base32 or is shorter than 128 bits.
    #[error("the secret is not acceptable")]
    BadSecret,
    /// The URI would be longer than [`MAX_URI_LEN`] (an issuer or account far too long).
    #[error("the issuer and account are too long for a key URI")]
    TooLong,
    /// The label's issuer and the `issuer` parameter differ.
    #[error("the issuer in the label and the issuer parameter differ")]
    IssuerMismatch,
    /// A parameter nidan cannot honour (named in the message), or a repeated parameter.
    #[error("unsupported parameter: {0}")]
    UnsupportedParameter(String),
}

/// The pieces of a TOTP key URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpauthParts {
    /// The service name shown in the app, e.g. "nidan".
    pub issuer: String,
    /// The account name shown in the app, usually the email address.
    pub account: String,
    /// The shared secret.
    pub secret: TotpSecret,
}

/// Refuse empty or colon-containing label parts.
fn check_label_parts(issuer: &str, account: &str) -> Result<(), OtpauthError> {
    if issuer.trim().is_empty() {
        return Err(OtpauthError::EmptyIssuer);
    }
    if account.trim().is_empty() {
        return Err(OtpauthError::EmptyAccount);
    }
    if issuer.contains(':') || account.contains(':') {
        return Err(OtpauthError::ColonInLabel);
    }
    Ok(())
}

/// Build `otpauth://totp/<Issuer>:<account>?secret=<BASE32 no padding>&issuer=<Issuer>`.
///
/// Issuer and account are percent-encoded (RFC 3986 unreserved kept; `@` -> `%40`, space ->
/// `%20`); neither may be empty or contain `:`. The result contains the secret: never log it,
/// and send it only on `Cache-Control: no-store` responses.
/// The longest key URI built or parsed: far beyond any real issuer and account, and small enough
/// for a QR code an app can scan.
pub const MAX_URI_LEN: usize = 4096;

/// Builds the URI; refuses one longer than [`MAX_URI_LEN`], so every URI built parses back.
pub fn otpauth_uri(
    issuer: &str,
    account: &str,
    secret: &TotpSecret,
) -> Result<String, OtpauthError> {
    check_label_parts(issuer, account)?;
    let iss = utf8_percent_encode(issuer, COMPONENT).to_string();
    let acc = utf8_percent_encode(account, COMPONENT);
    let b32 = zeroize::Zeroizing::new(secret.to_base32());
    let uri = format!(
        "otpauth://totp/{iss}:{acc}?secret={}&issuer={iss}",
        b32.as_str()
    );
    if uri.len() > MAX_URI_LEN {
        return Err(OtpauthError::TooLong);
    }
    Ok(uri)
}

/// Percent-decode one URI component (invalid UTF-8 becomes U+FFFD).
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Percent-decode a query value, reading `+` as a space (some generators form-encode).
fn decode_query(s: &str) -> String {
    decode(&s.replace('+', " "))
}

/// Parse a TOTP key URI: what [`otpauth_uri`] builds, and the Key URI wiki's examples.
///
/// The label is `Issuer:account` (the colon literal or `%3A`, optional spaces after it) or
/// just `account` when an `issuer` parameter is present. `algorithm`, `digits` and `period`,
/// if present, must be `SHA1`, `6` and `30`; other unknown parameters (e.g. `image`) are
/// ignored; a repeated parameter is refused.
pub fn parse_otpauth_uri(uri: &str) -> Result<OtpauthParts, OtpauthError> {
    const SCHEME: &str = "otpauth://";
    if uri.len() > MAX_URI_LEN {
        return Err(OtpauthError::TooLong);
    }
    let rest = match uri.get(..SCHEME.len()) {
        Some(s) if s.eq_ignore_ascii_case(SCHEME) => &uri[SCHEME.len()..],
        _ => return Err(OtpauthError::NotOtpauth),
    };
    let (kind, rest) = rest.split_once('/').ok_or(OtpauthError::NotTotp)?;
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(OtpauthError::NotTotp);
    }
    let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
    let label = decode(label);
    let (label_issuer, account) = match label.split_once(':') {
        Some((iss, acc)) => (Some(iss.to_owned()), acc.trim_start().to_owned()),
        None => (None, label.clone()),
    };

    let mut secret: Option<zeroize::Zeroizing<String>> = None;
    let mut param_issuer: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key).to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(OtpauthError::UnsupportedParameter(format!(
                "repeated {key}"
            )));
        }
        seen.push(key.clone());
        let value = zeroize::Zeroizing::new(decode_query(value));
        match key.as_str() {
            "secret" => secret = Some(value),
            "issuer" => param_issuer = Some(value.to_string()),
            "algorithm" if value.eq_ignore_ascii_case("SHA1") => {}
            "digits" if value.as_str() == "6" => {}
            "period" if value.as_str() == "30" => {}
            "algorithm" | "digits" | "period" => {
                return Err(OtpauthError::UnsupportedParameter(format!(
                    "{key}={}",
                    value.as_str()
                )));
            }
            _ => {}
        }
    }

    let issuer = match (label_issuer, param_issuer) {
        (Some(l), Some(p)) if l != p => return Err(OtpauthError::IssuerMismatch),
        (Some(i), _) | (None, Some(i)) => i,
        (None, None) => return Err(OtpauthError::EmptyIssuer),
    };
    check_label_parts(&issuer, &account)?;
    let secret = secret.ok_or(OtpauthError::MissingSecret)?;
    let secret = TotpSecret::from_base32(&secret).map_err(|_| OtpauthError::BadSecret)?;
    Ok(OtpauthParts {
        issuer,
        account,
        secret,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seed() -> TotpSecret {
        TotpSecret::from_random(*b"12345678901234567890")
    }

    #[test]
    fn builds_the_expected_uri() {
        let uri = otpauth_uri("nidan", "alice@example.com", &seed()).unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/nidan:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=nidan"
        );
    }

    #[test]
    fn spaces_are_percent_20_in_both_places() {
        let uri = otpauth_uri("ACME Co", "john doe+x@example.com", &seed()).unwrap();
        assert!(uri.starts_with("otpauth://totp/ACME%20Co:john%20doe%2Bx%40example.com?"));
        assert!(uri.ends_with("&issuer=ACME%20Co"));
        assert!(!uri.contains(' ') && !uri.contains('+'));
    }

    #[test]
    fn round_trip() {
        for (iss, acc) in [
            ("nidan", "alice@example.com"),
            ("ACME Co", "john.doe@email.com"),
            ("Ünïcødé & Söhne", "日本@例え.jp"),
            ("a/b?c#d", "e%f=g&h"),
        ] {
            let parts = OtpauthParts {
                issuer: iss.into(),
                account: acc.into(),
                secret: seed(),
            };
            let uri = otpauth_uri(iss, acc, &parts.secret).unwrap();
            assert_eq!(parse_otpauth_uri(&uri).unwrap(), parts, "{uri}");
        }
    }

    #[test]
    fn key_uri_wiki_example_parses() {
        let p = parse_otpauth_uri(
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
        )
        .unwrap();
        assert_eq!(p.issuer, "ACME Co");
        assert_eq!(p.account, "john.doe@email.com");
        assert_eq!(p.secret.to_base32(), "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ");
        // The wiki's other example has an 80-bit secret: below the 128-bit floor, refused.
        assert_eq!(
            parse_otpauth_uri(
                "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
            )
            .unwrap_err(),
            OtpauthError::BadSecret
        );
    }

    #[test]
    fn label_variants() {
        let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let a = parse_otpauth_uri(&format!("otpauth://totp/ACME%3A%20bob?secret={s}")).unwrap();
        assert_eq!((a.issuer.as_str(), a.account.as_str()), ("ACME", "bob"));
        let b =
            parse_otpauth_uri(&format!("otpauth://totp/bob?secret={s}&issuer=ACME+Co")).unwrap();
        assert_eq!((b.issuer.as_str(), b.account.as_str()), ("ACME Co", "bob"));
        assert_eq!(
            parse_otpauth_uri(&format!("otpauth://totp/bob?secret={s}")).unwrap_err(),
            OtpauthError::EmptyIssuer
        );
    }

    #[test]
    fn colons_and_empties_refused() {
        let s = seed();
        assert_eq!(
            otpauth_uri("a:b", "x", &s).unwrap_err(),
            OtpauthError::ColonInLabel
        );
        assert_eq!(
            otpauth_uri("a", "x:y", &s).unwrap_err(),
            OtpauthError::ColonInLabel
        );
        assert_eq!(
            otpauth_uri("", "x", &s).unwrap_err(),
            OtpauthError::EmptyIssuer
        );
        assert_eq!(
            otpauth_uri(" ", "x", &s).unwrap_err(),
            OtpauthError::EmptyIssuer
        );
        assert_eq!(
            otpauth_uri("a", "", &s).unwrap_err(),
            OtpauthError::EmptyAccount
        );
        let s32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(
            parse_otpauth_uri(&format!("otpauth://totp/a:b:c?secret={s32}")).unwrap_err(),
            OtpauthError::ColonInLabel
        );
    }

    #[test]
    fn parse_refusals() {
        let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let cases = [
            (
                format!("https://x/totp/a:b?secret={s}"),
                OtpauthError::NotOtpauth,
            ),
            ("otpauth:/".to_string(), OtpauthError::NotOtpauth),
            (
                format!("otpauth://hotp/a:b?secret={s}&counter=0"),
                OtpauthError::NotTotp,
            ),
            ("otpauth://totp".to_string(), OtpauthError::NotTotp),
            (
                "otpauth://totp/a:b?issuer=a".to_string(),
                OtpauthError::MissingSecret,
            ),
            (
                "otpauth://totp/a:b?secret=!!".to_string(),
                OtpauthError::BadSecret,
            ),
            (
                format!("otpauth://totp/a:b?secret={s}&issuer=c"),
                OtpauthError::IssuerMismatch,
            ),
            (
                format!("otpauth://totp/a:?secret={s}"),
                OtpauthError::EmptyAccount,
            ),
            (
                format!("otpauth://totp/a:b?secret={s}&digits=8"),
                OtpauthError::UnsupportedParameter("digits=8".into()),
            ),
            (
                format!("otpauth://totp/a:b?secret={s}&algorithm=SHA256"),
                OtpauthError::UnsupportedParameter("algorithm=SHA256".into()),
            ),
            (
                format!("otpauth://totp/a:b?secret={s}&period=60"),
                OtpauthError::UnsupportedParameter("period=60".into()),
            ),
            (
                format!("otpauth://totp/a:b?secret={s}&secret={s}"),
                OtpauthError::UnsupportedParameter("repeated secret".into()),
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(parse_otpauth_uri(&uri).unwrap_err(), want, "{uri}");
        }
        assert!(parse_otpauth_uri(&"x".repeat(10_000)).is_err());
        assert!(parse_otpauth_uri("otpauth://totp/é:ü?secret=%FF").is_err());
    }
}
