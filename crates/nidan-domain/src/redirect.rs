//! Where nidan may send a browser back to after sign-in or sign-out (the `rd` parameter): only
//! to nidan itself, to a host under the session's cookie domain, or to an origin the operator
//! listed. Anything else is refused, so nidan can never be used as an open redirect.
//!
//! Why the `url` crate: the browser, not nidan, finally reads the address, so it must be parsed
//! exactly as browsers parse it (the WHATWG URL standard, which `url` implements). Hand-written
//! checks are what open-redirect tricks beat: `//evil.example` and `/\evil.example` (a path to
//! us, a host to a browser), `https://evil.example@app.example.com` (user info),
//! `https://evil%2Eexample`, `https://app.example.com.evil.example`, or IDN look-alikes (the host
//! is compared in its ASCII form, after IDNA mapping).

use url::{Host, Url};

/// The places a redirect may go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redirects {
    /// nidan's own origin (`public_url`), against which relative addresses are read.
    base: Option<Url>,
    /// Hosts at or below this domain (ASCII, lower case).
    domain: Option<String>,
    /// Origins listed by the operator.
    origins: Vec<url::Origin>,
}

/// Why a setting of the redirect rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// Not an absolute http(s) URL.
    #[error("`{0}` is not an absolute http:// or https:// URL")]
    NotAUrl(String),
    /// Not a domain name.
    #[error("`{0}` is not a domain name")]
    NotADomain(String),
}

impl Redirects {
    /// The rule for nidan at `public_url`, sharing its session with hosts under `cookie_domain`,
    /// and also sending people back to the `allowed` origins (`https://host[:port]`, a path is
    /// ignored).
    pub fn new(
        public_url: &str,
        cookie_domain: Option<&str>,
        allowed: &[String],
    ) -> Result<Redirects, RedirectError> {
        let base = web_url(public_url).ok_or_else(|| RedirectError::NotAUrl(public_url.into()))?;
        let domain = match cookie_domain {
            Some(d) => Some(ascii_domain(d).ok_or_else(|| RedirectError::NotADomain(d.into()))?),
            None => None,
        };
        let origins = allowed
            .iter()
            .map(|a| {
                web_url(a)
                    .map(|u| u.origin())
                    .ok_or_else(|| RedirectError::NotAUrl(a.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redirects {
            base: Some(base),
            domain,
            origins,
        })
    }

    /// `rd` as an absolute URL when a browser may be sent there, else `None`.
    pub fn check(&self, rd: &str) -> Option<String> {
        let base = self.base.as_ref()?;
        // Control characters and whitespace are never part of an address we hand out (the URL
        // parser would strip some of them silently).
        if rd.is_empty() || rd.len() > 4096 || rd.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        let url = base.join(rd).ok()?;
        if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        // Plain http only where nidan itself is served over http (a trial on one machine).
        if url.scheme() == "http" && base.scheme() == "https" {
            return None;
        }
        let allowed = url.origin() == base.origin()
            || self.origins.contains(&url.origin())
            || match (url.host(), &self.domain) {
                (Some(Host::Domain(host)), Some(domain)) => {
                    host == domain
                        || host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
                }
                _ => false,
            };
        allowed.then(|| url.to_string())
    }

    /// Whether `host` (a name, without port) is at or below the cookie domain.
    pub fn shares_session(&self, host: &str) -> bool {
        match (&self.domain, ascii_domain(host)) {
            (Some(domain), Some(host)) => {
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
            _ => false,
        }
    }
}

/// An absolute http(s) URL with a host.
fn web_url(s: &str) -> Option<Url> {
    let url = Url::parse(s.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then_some(url)
}

/// A domain name in the ASCII form browsers compare (IDNA-mapped, lower case), or `None`.
pub fn ascii_domain(d: &str) -> Option<String> {
    let d = d.trim().trim_start_matches('.').trim_end_matches('.');
    let url = Url::parse(&format!("https://{d}/")).ok()?;
    match url.host() {
        Some(Host::Domain(host)) if host.contains('.') || host == "localhost" => {
            Some(host.to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules() -> Redirects {
        Redirects::new(
            "https://auth.example.com",
            Some("Example.com"),
            &["https://partner.example.org:8443/anything".into()],
        )
        .unwrap()
    }

    #[test]
    fn own_hosts_under_the_cookie_domain_and_listed_origins_pass() {
        let r = rules();
        for ok in [
            "https://app.example.com/x?y=1",
            "https://example.com/",
            "https://a.b.example.com/deep/path#frag",
            "https://auth.example.com/settings/security",
            "/settings/security",
            "https://partner.example.org:8443/back",
            "https://APP.EXAMPLE.COM/",
        ] {
            assert!(r.check(ok).is_some(), "{ok} refused");
        }
        assert_eq!(
            r.check("/settings/security").as_deref(),
            Some("https://auth.example.com/settings/security")
        );
    }

    #[test]
    fn open_redirect_tricks_are_refused() {
        let r = rules();
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "https://evil.example@app.example.com",
            "https://app.example.com@evil.example",
            "https://user:pw@app.example.com/",
            "https://app.example.com.evil.example/",
            "https://evilexample.com/",
            "https://evil%2Eexample/",
            "https://app%2Eexample.com%2Eevil.example/",
            "https://exаmple.com/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://partner.example.org/",
            "https://partner.example.org:8444/",
            "https://app.example.com/\n",
            " https://evil.example",
            "",
        ] {
            assert_eq!(r.check(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn without_a_cookie_domain_only_nidan_itself_and_listed_origins_pass() {
        let r = Redirects::new("http://127.0.0.1:8080", None, &[]).unwrap();
        assert!(r.check("/x").is_some());
        assert!(r.check("http://127.0.0.1:8080/y").is_some());
        assert!(r.check("http://127.0.0.1:8081/y").is_none());
        assert!(r.check("http://localhost:8080/y").is_none());
    }

    #[test]
    fn settings_are_checked() {
        assert!(Redirects::new("auth.example.com", None, &[]).is_err());
        assert!(Redirects::new("https://a.example", Some("not a domain"), &[]).is_err());
        assert!(Redirects::new("https://a.example", None, &["ftp://x.example".into()]).is_err());
        assert_eq!(ascii_domain(".Example.COM."), Some("example.com".into()));
        assert_eq!(
            ascii_domain("bücher.example"),
            Some("xn--bcher-kva.example".into())
        );
        assert_eq!(ascii_domain("com"), None);
    }

    #[test]
    fn the_session_is_shared_with_hosts_under_the_domain_only() {
        let r = rules();
        assert!(r.shares_session("app.example.com"));
        assert!(r.shares_session("example.com"));
        assert!(!r.shares_session("evilexample.com"));
        assert!(!r.shares_session("example.org"));
    }
}
