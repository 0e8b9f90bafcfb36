//! The country port: where a client address is. Implemented by `nidan-geo` from a MaxMind-format
//! database; absent when the operator has not configured one.

use std::net::IpAddr;

/// Looks up the country of an address.
pub trait CountryLookup: Send + Sync + 'static {
    /// ISO 3166-1 alpha-2 code (`JP`), or `None` when the address is not in the database.
    fn country(&self, ip: IpAddr) -> Option<String>;
}

/// The "sign-in from a new country" rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskPolicy {
    /// ISO codes of the operator's home countries; empty turns the rule off.
    pub home_countries: Vec<String>,
    /// Whether an address of unknown country counts as abroad.
    pub challenge_unknown: bool,
}
