//! The reader against databases written by the test writer (the MaxMind DB format spec).
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use nidan_geo::CountryDb;
use nidan_service::geo::CountryLookup;

#[test]
fn networks_map_to_their_countries_and_others_are_unknown() {
    let bytes = nidan_geo::testing::country_db(&[
        (Ipv4Addr::new(203, 0, 113, 0), 24, "JP"),
        (Ipv4Addr::new(198, 51, 100, 0), 24, "US"),
        (Ipv4Addr::new(10, 0, 0, 0), 8, "JP"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    std::fs::write(&path, bytes).unwrap();
    let db = CountryDb::open(&path).unwrap();
    assert_eq!(
        db.country(IpAddr::from([203, 0, 113, 7])).as_deref(),
        Some("JP")
    );
    assert_eq!(
        db.country(IpAddr::from([198, 51, 100, 200])).as_deref(),
        Some("US")
    );
    assert_eq!(
        db.country(IpAddr::from([10, 20, 30, 40])).as_deref(),
        Some("JP")
    );
    assert_eq!(db.country(IpAddr::from([192, 0, 2, 1])), None);
    assert_eq!(
        db.country("::1".parse().unwrap()),
        None,
        "IPv6 in an IPv4 database is unknown"
    );
}

#[test]
fn a_broken_or_missing_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.mmdb");
    std::fs::write(&path, b"this is not a MaxMind database").unwrap();
    let e = CountryDb::open(&path).unwrap_err().to_string();
    assert!(e.contains("broken.mmdb"), "{e}");
    let e = CountryDb::open(&dir.path().join("missing.mmdb"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.mmdb"), "{e}");
}
