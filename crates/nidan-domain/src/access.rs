//! Access rules for the web apps behind nidan (forward-auth): for one request to a protected app,
//! whether it passes, needs a sign-in, needs the second step, or is refused.
//!
//! Rules are checked in order and the first that matches decides; when none matches, the default
//! policy does. A rule matches on the host (exact, or `*.example.com` for any name below
//! `example.com`, not `example.com` itself), optionally on path prefixes, and optionally on the
//! user (sign-in email) or one of their groups. A rule that names users or groups cannot be
//! judged for a request without a session: such a request is sent to sign in first.
//!
//! Paths are matched as the app behind the proxy will most likely see them: percent-decoded,
//! backslashes read as slashes, repeated slashes folded and `.`/`..` segments resolved — so that
//! `/public/%2e%2e/admin` or `/public/..%2Fadmin` cannot slip under a `bypass` rule for `/public`
//! into `/admin`.
//!
//! Everything here is pure: the proxy's headers, the session and the groups come in as values.

use std::borrow::Cow;
use std::fmt;

/// What a rule (or the default) asks of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not.
    Bypass,
    /// A signed-in session (the password alone is enough).
    OneFactor,
    /// A session made with the password and the second step.
    TwoFactor,
    /// No one.
    Deny,
}

impl Policy {
    /// The policy named `s` (`bypass`, `one_factor`, `two_factor`, `deny`).
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "bypass" => Policy::Bypass,
            "one_factor" => Policy::OneFactor,
            "two_factor" => Policy::TwoFactor,
            "deny" => Policy::Deny,
            _ => return None,
        })
    }

    /// The name used in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Bypass => "bypass",
            Policy::OneFactor => "one_factor",
            Policy::TwoFactor => "two_factor",
            Policy::Deny => "deny",
        }
    }
}

/// A host a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// This name only.
    Exact(String),
    /// Any name that ends with `.<this>` (written `*.<this>`).
    Below(String),
}

/// Why a rule's setting is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A host that is not a host name or `*.` followed by one.
    #[error("`{0}` is not a host name or `*.` followed by one")]
    Host(String),
    /// A path prefix that does not start with `/`.
    #[error("path `{0}` must start with `/`")]
    Path(String),
    /// A policy name that is not one of the four.
    #[error("policy `{0}` is not one of bypass, one_factor, two_factor, deny")]
    Policy(String),
    /// A rule without hosts.
    #[error("a rule needs at least one entry in `hosts`")]
    NoHosts,
}

impl HostPattern {
    /// Reads `app.example.com` or `*.example.com` (case folded, a trailing dot dropped).
    pub fn parse(s: &str) -> Result<HostPattern, RuleError> {
        let bad = || RuleError::Host(s.to_owned());
        let lower = s.trim().trim_end_matches('.').to_ascii_lowercase();
        let (below, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, lower),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(if below {
            HostPattern::Below(name)
        } else {
            HostPattern::Exact(name)
        })
    }

    /// Whether `host` (already normalised by [`normalise_host`]) is covered.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Below(name) => host
                .strip_suffix(name.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Below(name) => write!(f, "*.{name}"),
        }
    }
}

/// One `[[access.rules]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Hosts it applies to (at least one).
    pub hosts: Vec<HostPattern>,
    /// Path prefixes (empty: every path). A prefix matches itself and what lies below it:
    /// `/admin` matches `/admin` and `/admin/users`, not `/administrator`.
    pub paths: Vec<String>,
    /// Sign-in emails (lower case; empty: anyone).
    pub users: Vec<String>,
    /// Groups, any of which lets the user in (empty: any).
    pub groups: Vec<String>,
    /// What it asks.
    pub policy: Policy,
}

impl Rule {
    /// A rule from its settings, checked.
    pub fn new(
        hosts: &[String],
        paths: &[String],
        users: &[String],
        groups: &[String],
        policy: &str,
    ) -> Result<Rule, RuleError> {
        if hosts.is_empty() {
            return Err(RuleError::NoHosts);
        }
        let hosts = hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        let paths = paths
            .iter()
            .map(|p| {
                if p.starts_with('/') {
                    Ok(normalise_path(p).into_owned())
                } else {
                    Err(RuleError::Path(p.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policy = Policy::parse(policy).ok_or_else(|| RuleError::Policy(policy.to_owned()))?;
        Ok(Rule {
            hosts,
            paths,
            users: users.iter().map(|u| u.trim().to_lowercase()).collect(),
            groups: groups.iter().map(|g| g.trim().to_owned()).collect(),
            policy,
        })
    }

    fn covers(&self, host: &str, path: &str) -> bool {
        self.hosts.iter().any(|h| h.matches(host))
            && (self.paths.is_empty() || self.paths.iter().any(|p| under(path, p)))
    }

    fn names_someone(&self) -> bool {
        !self.users.is_empty() || !self.groups.is_empty()
    }

    fn admits(&self, who: &Subject<'_>) -> bool {
        let user_ok = self.users.is_empty() || self.users.iter().any(|u| *u == who.email);
        let group_ok = self.groups.is_empty() || self.groups.iter().any(|g| who.groups.contains(g));
        user_ok && group_ok
    }
}

/// Whether `path` is `prefix` or lies below it.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The signed-in user a request comes with.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The sign-in email, lower case.
    pub email: &'a str,
    /// The user's groups.
    pub groups: &'a [String],
    /// Whether the session was made with the second step.
    pub two_step: bool,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let it through.
    Allow,
    /// Send the browser to sign in.
    SignIn,
    /// Signed in with the password alone, but the app wants the second step.
    SecondStep,
    /// Refuse it.
    Deny,
}

/// The rules and the default, as loaded from the settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRules {
    /// In order: the first that matches decides.
    pub rules: Vec<Rule>,
    /// When none matches.
    pub default_policy: Policy,
}

impl Default for AccessRules {
    /// No rules, and everything denied.
    fn default() -> Self {
        AccessRules {
            rules: Vec::new(),
            default_policy: Policy::Deny,
        }
    }
}

impl AccessRules {
    /// The decision for a request to `host` and `path` (both as the proxy reported them; they
    /// are normalised here), by `who` (`None`: no valid session), and the index of the rule
    /// that decided (`None`: the default).
    pub fn decide(
        &self,
        host: &str,
        path: &str,
        who: Option<&Subject<'_>>,
    ) -> (Decision, Option<usize>) {
        let host = normalise_host(host);
        let path = normalise_path(path);
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.covers(&host, &path) {
                continue;
            }
            if rule.names_someone() {
                match who {
                    // Who it is decides whether this rule applies at all.
                    None if rule.policy != Policy::Bypass => return (Decision::SignIn, Some(i)),
                    None => continue,
                    Some(who) if !rule.admits(who) => continue,
                    Some(_) => {}
                }
            }
            return (apply(rule.policy, who), Some(i));
        }
        (apply(self.default_policy, who), None)
    }
}

fn apply(policy: Policy, who: Option<&Subject<'_>>) -> Decision {
    match (policy, who) {
        (Policy::Bypass, _) => Decision::Allow,
        (Policy::Deny, _) => Decision::Deny,
        (_, None) => Decision::SignIn,
        (Policy::OneFactor, Some(_)) => Decision::Allow,
        (Policy::TwoFactor, Some(who)) if who.two_step => Decision::Allow,
        (Policy::TwoFactor, Some(_)) => Decision::SecondStep,
    }
}

/// A host as rules compare it: lower case, without port or trailing dot (borrowed when it is
/// that already, as it nearly always is).
pub fn normalise_host(host: &str) -> Cow<'_, str> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
    if !host.is_empty() && !host.ends_with('.') && host.bytes().all(plain) {
        return Cow::Borrowed(host);
    }
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal, with or without a port.
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    Cow::Owned(bare.trim_end_matches('.').to_ascii_lowercase())
}

/// A request path as the app will most likely see it, for matching: the query dropped,
/// percent-decoded once, `\` read as `/`, empty and `.` segments dropped, `..` segments resolved
/// (never above the root). Borrowed when there is nothing to do.
pub fn normalise_path(path: &str) -> Cow<'_, str> {
    let raw = path.split(['?', '#']).next().unwrap_or_default();
    let simple = raw.starts_with('/')
        && !raw.contains(['%', '\\'])
        && !raw.contains("//")
        && !raw.split('/').any(|s| s == "." || s == "..");
    if simple {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(resolve(raw))
    }
}

/// [`normalise_path`] the long way, for a path without its query.
fn resolve(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let trailing = decoded.ends_with('/') || decoded.ends_with('\\');
    if out.is_empty() || (trailing && !segments.is_empty()) {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(hosts: &[&str], paths: &[&str], users: &[&str], groups: &[&str], p: &str) -> Rule {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Rule::new(&v(hosts), &v(paths), &v(users), &v(groups), p).unwrap()
    }

    fn who<'a>(email: &'a str, groups: &'a [String], two_step: bool) -> Subject<'a> {
        Subject {
            email,
            groups,
            two_step,
        }
    }

    #[test]
    fn hosts_match_exactly_or_strictly_below_a_wildcard() {
        let exact = HostPattern::parse("App.Example.com.").unwrap();
        assert!(exact.matches("app.example.com"));
        assert!(!exact.matches("x.app.example.com"));
        let below = HostPattern::parse("*.example.com").unwrap();
        assert!(below.matches("a.example.com"));
        assert!(below.matches("a.b.example.com"));
        assert!(!below.matches("example.com"));
        assert!(!below.matches("evilexample.com"));
        assert!(!below.matches(".example.com"));
        for bad in [
            "",
            "*",
            "*.",
            "a*.example.com",
            "exa mple.com",
            "*.*.example.com",
            "a..b",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hosts_are_compared_without_port_case_or_trailing_dot() {
        assert_eq!(normalise_host("App.Example.COM:8443"), "app.example.com");
        assert_eq!(normalise_host("app.example.com."), "app.example.com");
        assert_eq!(normalise_host("[::1]:8080"), "::1");
    }

    #[test]
    fn paths_are_read_as_the_app_will_see_them() {
        assert_eq!(normalise_path("/public/../admin"), "/admin");
        assert_eq!(normalise_path("/public/%2e%2e/admin"), "/admin");
        assert_eq!(normalise_path("/public/..%2Fadmin?x=/public"), "/admin");
        assert_eq!(normalise_path("/public\\..\\admin"), "/admin");
        assert_eq!(normalise_path("//admin//x/"), "/admin/x/");
        assert_eq!(normalise_path("/../../etc"), "/etc");
        assert_eq!(normalise_path(""), "/");
        assert_eq!(normalise_path("/a/./b"), "/a/b");
    }

    #[test]
    fn the_short_way_agrees_with_the_long_way() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/wiki/page.html",
            "/a-b_c~d/e.f",
            "/.well-known/x",
        ] {
            assert!(
                matches!(normalise_path(p), Cow::Borrowed(_)),
                "{p} took the long way"
            );
            assert_eq!(resolve(p), p, "{p}");
        }
        for p in ["/a/./b", "/a//b", "/a/%62", "/a\\b", "a/b", "/a/.."] {
            assert!(
                matches!(normalise_path(p), Cow::Owned(_)),
                "{p} took the short way"
            );
        }
    }

    #[test]
    fn a_prefix_covers_itself_and_below_only() {
        assert!(under("/admin", "/admin"));
        assert!(under("/admin/users", "/admin"));
        assert!(!under("/administrator", "/admin"));
        assert!(under("/static/x.css", "/static/"));
    }

    #[test]
    fn the_first_matching_rule_decides_and_the_default_is_deny() {
        let rules = AccessRules {
            rules: vec![
                rule(&["app.example.com"], &["/public"], &[], &[], "bypass"),
                rule(
                    &["app.example.com"],
                    &["/admin"],
                    &[],
                    &["admins"],
                    "two_factor",
                ),
                rule(&["app.example.com"], &["/admin"], &[], &[], "deny"),
                rule(&["*.example.com"], &[], &[], &[], "one_factor"),
            ],
            default_policy: Policy::Deny,
        };
        let none: Vec<String> = vec![];
        let admins = vec!["admins".to_string()];
        let plain = who("a@x.example", &none, false);
        let admin1 = who("b@x.example", &admins, false);
        let admin2 = who("b@x.example", &admins, true);
        let d = |host, path, w: Option<&Subject<'_>>| rules.decide(host, path, w);
        assert_eq!(
            d("app.example.com", "/public/x", None),
            (Decision::Allow, Some(0))
        );
        // Dot segments cannot climb out of the bypassed prefix.
        assert_eq!(
            d("app.example.com", "/public/../admin", None).0,
            Decision::SignIn
        );
        assert_eq!(
            d("app.example.com", "/admin", Some(&plain)),
            (Decision::Deny, Some(2))
        );
        assert_eq!(
            d("app.example.com", "/admin/x", Some(&admin1)),
            (Decision::SecondStep, Some(1))
        );
        assert_eq!(
            d("app.example.com", "/admin/x", Some(&admin2)).0,
            Decision::Allow
        );
        // Without a session, a rule naming groups asks for a sign-in first.
        assert_eq!(
            d("app.example.com", "/admin", None),
            (Decision::SignIn, Some(1))
        );
        assert_eq!(
            d("wiki.example.com", "/", None),
            (Decision::SignIn, Some(3))
        );
        assert_eq!(
            d("wiki.example.com", "/", Some(&plain)),
            (Decision::Allow, Some(3))
        );
        assert_eq!(d("other.test", "/", Some(&admin2)), (Decision::Deny, None));
    }

    #[test]
    fn users_are_matched_by_email_without_case() {
        let rules = AccessRules {
            rules: vec![rule(
                &["a.example"],
                &[],
                &["Boss@Example.com"],
                &[],
                "one_factor",
            )],
            default_policy: Policy::Deny,
        };
        let none: Vec<String> = vec![];
        let boss = who("boss@example.com", &none, false);
        let other = who("other@example.com", &none, true);
        assert_eq!(
            rules.decide("a.example", "/", Some(&boss)).0,
            Decision::Allow
        );
        assert_eq!(
            rules.decide("a.example", "/", Some(&other)).0,
            Decision::Deny
        );
    }

    #[test]
    fn bad_rules_are_named() {
        let s = |x: &str| vec![x.to_string()];
        assert_eq!(
            Rule::new(&[], &[], &[], &[], "deny"),
            Err(RuleError::NoHosts)
        );
        assert_eq!(
            Rule::new(&s("a.example"), &s("admin"), &[], &[], "deny"),
            Err(RuleError::Path("admin".into()))
        );
        assert_eq!(
            Rule::new(&s("a.example"), &[], &[], &[], "two-factor"),
            Err(RuleError::Policy("two-factor".into()))
        );
    }
}
