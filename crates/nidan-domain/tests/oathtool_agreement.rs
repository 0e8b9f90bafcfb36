//! Agreement with an independent implementation: `oathtool` (OATH Toolkit).
//!
//! For 1,000 pseudo-random secrets (16..=64 bytes) and times in 0..=4_000_000_000, our
//! `totp_code` must equal `oathtool --totp -b -N @<unix> <base32>` for the step at that time
//! and the next two (one process per secret, `-w 2`). The PRNG is a seeded splitmix64, so
//! failures reproduce. If oathtool is missing the test fails, unless NIDAN_SKIP_OATHTOOL=1.

use std::process::Command;

use nidan_domain::{TotpSecret, totp_code, totp_code_for_step, totp_step};

/// splitmix64: tiny, deterministic, good enough to spread test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn oathtool_available() -> bool {
    Command::new("oathtool").arg("--version").output().is_ok()
}

#[test]
fn totp_agrees_with_oathtool() {
    if !oathtool_available() {
        if std::env::var("NIDAN_SKIP_OATHTOOL").as_deref() == Ok("1") {
            eprintln!("oathtool not found; skipped because NIDAN_SKIP_OATHTOOL=1");
            return;
        }
        panic!(
            "oathtool is not on PATH: install it with `apt-get install oathtool` \
             (or set NIDAN_SKIP_OATHTOOL=1 to skip this test)"
        );
    }

    let mut rng = SplitMix64(0x6e69_6461_6e21_0001);
    for i in 0..1000 {
        let len = 16 + (rng.next() % 49) as usize; // 16..=64 bytes
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let secret = TotpSecret::from_bytes(bytes).unwrap();
        let b32 = secret.to_base32();
        let unix = (rng.next() % 4_000_000_001) as i64;

        let out = Command::new("oathtool")
            .args(["--totp", "-b", "-w", "2", "-N", &format!("@{unix}"), &b32])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "oathtool failed for case {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let theirs: Vec<&str> = stdout.lines().collect();
        assert_eq!(theirs.len(), 3, "case {i}: {stdout:?}");

        assert_eq!(
            totp_code(secret.as_bytes(), unix),
            theirs[0],
            "case {i} at {unix}"
        );
        let step = totp_step(unix);
        for (k, want) in theirs.iter().enumerate() {
            assert_eq!(
                totp_code_for_step(secret.as_bytes(), step + k as u64),
                *want,
                "case {i} at step {step}+{k}"
            );
        }
    }
}
