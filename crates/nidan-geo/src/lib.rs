//! Where a client address is: the country, from a MaxMind-format database that the operator
//! supplies (GeoLite2-Country, DB-IP Lite Country, …). nidan never downloads anything.
//!
//! Used by the "sign-in from a new country" rule (`[risk]`): a right password from outside the
//! operator's home countries asks for an email code. The database is read once into memory at
//! start; a missing or unreadable file with the rule on stops the start with a clear message.
#![warn(missing_docs)]

#[cfg(feature = "testing")]
pub mod testing;

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};
use nidan_service::geo::CountryLookup;

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("cannot use the country database {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A country database in memory.
pub struct CountryDb {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl CountryDb {
    /// Reads a MaxMind-format database and checks it answers a lookup.
    pub fn open(path: &Path) -> Result<CountryDb, GeoError> {
        let unreadable = |reason: String| GeoError::Unreadable {
            path: path.display().to_string(),
            reason,
        };
        let reader = Reader::open_readfile(path).map_err(|e| unreadable(e.to_string()))?;
        let db = CountryDb { reader };
        // A file that parses but whose tree or data is broken fails here, not at the first
        // sign-in.
        db.lookup(IpAddr::from([1, 1, 1, 1])).map_err(unreadable)?;
        Ok(db)
    }

    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, String> {
        let found = self.reader.lookup(ip).map_err(|e| e.to_string())?;
        let country: Option<geoip2::Country<'_>> = found.decode().map_err(|e| e.to_string())?;
        Ok(country
            .and_then(|c| c.country.iso_code.or(c.registered_country.iso_code))
            .map(str::to_owned))
    }
}

impl CountryLookup for CountryDb {
    /// A lookup error counts as "unknown": `[risk] unknown_country` decides what that means.
    fn country(&self, ip: IpAddr) -> Option<String> {
        self.lookup(ip).ok().flatten()
    }
}
