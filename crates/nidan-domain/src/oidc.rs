//! The rules of nidan's OpenID Connect provider that need no I/O: PKCE, scopes, redirect URIs,
//! and what a session's sign-in says in `amr` and `acr`.
//!
//! The protocol's shape (authorization code flow only; PKCE `S256` required for public clients
//! and checked whenever it was sent; exact redirect URI matching) is decided here so that it can
//! be tested without a server.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::SecondStep;
use crate::method::Method;

/// The scopes nidan knows; others are dropped from a request (RFC 6749 §3.3 lets the server
/// grant less than asked).
pub const SCOPES: [&str; 5] = ["openid", "email", "profile", "groups", "offline_access"];

/// `acr` of a sign-in with the password alone.
pub const ACR_PASSWORD: &str = "urn:nidan:acr:password";
/// `acr` of a sign-in with the password and a second step.
pub const ACR_TWO_STEP: &str = "urn:nidan:acr:two-step";

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// `response_type` other than `code`.
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    /// No `openid` in the scope.
    #[error("the scope must include openid")]
    NoOpenidScope,
    /// A public client without PKCE, or a method other than S256.
    #[error("PKCE with code_challenge_method=S256 is required")]
    PkceRequired,
    /// A code challenge that is not 43 base64url characters.
    #[error("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")]
    BadChallenge,
    /// A redirect URI that cannot be registered.
    #[error("`{0}` is not an absolute https URL without a fragment (http only for localhost)")]
    BadRedirectUri(String),
}

/// The scopes granted for a requested `scope` string: the known ones, in a fixed order, each once.
pub fn granted_scopes(requested: &str) -> Result<Vec<&'static str>, OidcError> {
    let asked: Vec<&str> = requested.split_ascii_whitespace().collect();
    if !asked.contains(&"openid") {
        return Err(OidcError::NoOpenidScope);
    }
    Ok(SCOPES
        .iter()
        .copied()
        .filter(|s| asked.contains(s))
        .collect())
}

/// Checks the PKCE parameters of an authorization request: `S256` only (`plain` would let a
/// stolen code be redeemed with what the authorization request showed), required for public
/// clients.
pub fn check_pkce(
    challenge: Option<&str>,
    method: Option<&str>,
    public_client: bool,
) -> Result<Option<String>, OidcError> {
    match (challenge, method) {
        (None, _) if public_client => Err(OidcError::PkceRequired),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OidcError::PkceRequired),
        (Some(c), m) => {
            if m != Some("S256") {
                return Err(OidcError::PkceRequired);
            }
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(Some(c.to_owned()))
            } else {
                Err(OidcError::BadChallenge)
            }
        }
    }
}

/// Whether `verifier` matches the `S256` `challenge` (RFC 7636 §4.6), in constant time. A
/// verifier outside the RFC's alphabet or length never matches.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let digest = Sha256::digest(verifier.as_bytes());
    let expected = data_encoding::BASE64URL_NOPAD.encode(&digest);
    bool::from(expected.as_bytes().ct_eq(challenge.as_bytes()))
}

/// A redirect URI as it may be registered: absolute, `https` (or `http` for a loopback host, for
/// native and development clients, RFC 8252 §7.3), no fragment. Matching is then exact.
pub fn check_redirect_uri(uri: &str) -> Result<(), OidcError> {
    let bad = || OidcError::BadRedirectUri(uri.to_owned());
    let parsed = url::Url::parse(uri).map_err(|_| bad())?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let scheme_ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    if !scheme_ok || parsed.fragment().is_some() || parsed.host().is_none() {
        return Err(bad());
    }
    Ok(())
}

/// `amr` (RFC 8176) of a sign-in: `pwd`, then the second step's own value, then `mfa` when
/// there was one; a passkey without a password is `hwk`, `user` (it verified its user), `mfa`.
pub fn amr(second_step: Option<SecondStep>) -> Vec<&'static str> {
    // A passkey without a password: a key held in hardware, unlocked by its user.
    if second_step == Some(SecondStep::Passkey) {
        return vec!["hwk", "user", "mfa"];
    }
    let mut out = vec!["pwd"];
    let Some(step) = second_step else {
        return out;
    };
    out.push(match step {
        // A key held in hardware (a security key, or a passkey on a phone or computer).
        SecondStep::Method(Method::Webauthn) => "hwk",
        SecondStep::Method(Method::Totp) => "otp",
        SecondStep::Method(Method::Sms) => "sms",
        // RFC 8176 has no value for a code by email; `otp` is what such codes are.
        SecondStep::Method(Method::Email) => "otp",
        // A recovery code is a one-time password kept on paper.
        SecondStep::Method(Method::Recovery) => "otp",
        // A device the user chose to remember: something they have.
        SecondStep::Device => "swk",
        SecondStep::Passkey => "hwk",
    });
    out.push("mfa");
    out
}

/// `acr` of a sign-in.
pub fn acr(second_step: Option<SecondStep>) -> &'static str {
    if second_step.is_some() {
        ACR_TWO_STEP
    } else {
        ACR_PASSWORD
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&"a".repeat(129), challenge));
    }

    #[test]
    fn pkce_is_s256_only_and_required_for_public_clients() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(check_pkce(None, None, true), Err(OidcError::PkceRequired));
        assert_eq!(check_pkce(None, None, false), Ok(None));
        assert_eq!(
            check_pkce(Some(c), Some("plain"), false),
            Err(OidcError::PkceRequired)
        );
        assert_eq!(
            check_pkce(Some(c), None, false),
            Err(OidcError::PkceRequired)
        );
        assert_eq!(
            check_pkce(Some("abc"), Some("S256"), true),
            Err(OidcError::BadChallenge)
        );
        assert_eq!(
            check_pkce(Some(c), Some("S256"), true),
            Ok(Some(c.to_owned()))
        );
    }

    #[test]
    fn scopes_need_openid_and_unknown_ones_are_dropped() {
        assert_eq!(granted_scopes("email"), Err(OidcError::NoOpenidScope));
        assert_eq!(
            granted_scopes("groups openid  admin email openid"),
            Ok(vec!["openid", "email", "groups"])
        );
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_without_fragment() {
        for ok in [
            "https://grafana.example.com/login/generic_oauth",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9000/cb",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://grafana.example.com/cb",
            "https://app.example.com/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "http://127.0.0.2.example.com/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amr_and_acr_follow_the_second_step() {
        assert_eq!(amr(None), ["pwd"]);
        assert_eq!(acr(None), ACR_PASSWORD);
        assert_eq!(
            amr(Some(SecondStep::Method(Method::Totp))),
            ["pwd", "otp", "mfa"]
        );
        assert_eq!(
            amr(Some(SecondStep::Method(Method::Sms))),
            ["pwd", "sms", "mfa"]
        );
        assert_eq!(
            amr(Some(SecondStep::Method(Method::Webauthn))),
            ["pwd", "hwk", "mfa"]
        );
        assert_eq!(amr(Some(SecondStep::Device)), ["pwd", "swk", "mfa"]);
        assert_eq!(amr(Some(SecondStep::Passkey)), ["hwk", "user", "mfa"]);
        assert_eq!(acr(Some(SecondStep::Passkey)), ACR_TWO_STEP);
        assert_eq!(acr(Some(SecondStep::Device)), ACR_TWO_STEP);
    }
}
