//! `[risk]`: the "sign-in from a new country" rule (as niconico does for sign-ins from abroad).
//!
//! A right password from an address outside the home countries asks for an email code, also for
//! accounts without two-step verification. The country comes from a MaxMind-format database the
//! operator supplies; nidan never downloads one.

use std::path::PathBuf;

use super::ConfigError;
use super::source::{Sources, invalid};

/// Whether an address of unknown country counts as abroad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownCountry {
    /// Ask for the email code (the default: an unknown place is not home).
    Challenge,
    /// Let it through like a home address.
    Allow,
}

/// `[risk]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskConfig {
    /// ISO 3166-1 alpha-2 codes of the home countries (`["JP"]`). Empty (the default) turns the
    /// rule off.
    pub home_countries: Vec<String>,
    /// A MaxMind-format country database (GeoLite2-Country, DB-IP Lite). Required when
    /// `home_countries` is set; when set alone, the activity history shows countries.
    pub geoip_db: Option<PathBuf>,
    /// `challenge` (default) or `allow`: what an address missing from the database means.
    pub unknown_country: UnknownCountry,
}

pub(super) fn build_risk(src: &Sources) -> Result<RiskConfig, ConfigError> {
    let home_countries = src
        .list("risk.home_countries")?
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let upper = c.trim().to_ascii_uppercase();
            if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(upper)
            } else {
                Err(invalid(
                    "risk.home_countries",
                    format!("`{c}` is not a two-letter country code like JP"),
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let geoip_db = src.path("risk.geoip_db")?;
    if !home_countries.is_empty() && geoip_db.is_none() {
        return Err(invalid(
            "risk.geoip_db",
            "is required when risk.home_countries is set (a MaxMind-format country database, e.g. GeoLite2-Country.mmdb)",
        ));
    }
    let unknown_country = match src.string("risk.unknown_country")?.as_deref() {
        None | Some("challenge") => UnknownCountry::Challenge,
        Some("allow") => UnknownCountry::Allow,
        Some(other) => {
            return Err(invalid(
                "risk.unknown_country",
                format!("`{other}` is not `challenge` or `allow`"),
            ));
        }
    };
    Ok(RiskConfig {
        home_countries,
        geoip_db,
        unknown_country,
    })
}
