//! `[risk]` through the real binary: the rule needs a readable country database, or nidan does
//! not start.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{free_port, nidan_in};

fn nidan_serve(dir: &std::path::Path, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = nidan_in(dir);
    cmd.arg("serve")
        .env("NIDAN_SERVER_LISTEN", format!("127.0.0.1:{}", free_port()))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // A refused start exits by itself; a good one keeps running (then we stop it).
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_rule_without_a_country_database_is_a_bad_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = nidan_serve(dir.path(), &[("NIDAN_RISK_HOME_COUNTRIES", "JP,KR".into())]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("risk.geoip_db") && err.contains("NIDAN_RISK_GEOIP_DB"),
        "{err}"
    );
}

#[test]
fn a_broken_or_missing_country_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.mmdb");
    std::fs::write(&broken, b"not a database").unwrap();
    for path in [broken, dir.path().join("missing.mmdb")] {
        let env = [
            ("NIDAN_RISK_HOME_COUNTRIES", "JP".to_owned()),
            ("NIDAN_RISK_GEOIP_DB", path.display().to_string()),
        ];
        let out = nidan_serve(dir.path(), &env);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "started with {}: {err}",
            path.display()
        );
        assert!(
            err.contains("risk.geoip_db")
                && err.contains(&path.file_name().unwrap().to_string_lossy().into_owned()),
            "{err}"
        );
    }
}

#[test]
fn a_good_country_database_is_loaded_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("country.mmdb");
    std::fs::write(
        &db,
        nidan_geo::testing::country_db(&[(std::net::Ipv4Addr::new(203, 0, 113, 0), 24, "JP")]),
    )
    .unwrap();
    let env = [
        ("NIDAN_RISK_HOME_COUNTRIES", "jp".to_owned()),
        ("NIDAN_RISK_GEOIP_DB", db.display().to_string()),
    ];
    let out = nidan_serve(dir.path(), &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("country database loaded"), "{err}");
    assert!(err.contains("listening"), "{err}");
}
