//! `nidan admin totp import` with files large enough to take the parallel, batched path
//! (thousands of rows): the promises of the small-file tests in `cli.rs` must still hold.
//!
//! Why: the import checks and seals rows on several threads and writes them in multi-row
//! statements. A mistake there would show only with many rows: a seed sealed for the wrong
//! account or credential (the AAD), a bad line reported with the wrong number, or part of a file
//! imported after an error.

use std::path::PathBuf;
use std::process::Output;

use tempfile::TempDir;

use crate::common::nidan_in;

/// Rows in the test files: above the service's one-thread limit (4,096) and more than one
/// SQLite statement (500 rows).
const ROWS: usize = 6_000;

struct Instance {
    dir: TempDir,
}

impl Instance {
    fn new() -> Instance {
        Instance {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        nidan_in(self.dir.path()).args(args).output().unwrap()
    }

    /// Writes a seed file of [`ROWS`] rows (after a header), with `replace(line)` overriding
    /// the row of a 1-based line; returns its path.
    fn seed_file(&self, replace: impl Fn(usize) -> Option<String>) -> PathBuf {
        let mut text = String::from("email,base32_secret\n");
        for i in 0..ROWS {
            let line = i + 2;
            let row = replace(line).unwrap_or_else(|| format!("u{i}@example.com,{}", seed(i)));
            text.push_str(&row);
            text.push('\n');
        }
        let path = self.dir.path().join("seeds.csv");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A distinct valid 160-bit base32 seed per row.
fn seed(i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut n = i as u64 * 2_654_435_761 + 1;
    (0..32)
        .map(|_| {
            let c = ALPHABET[(n % 32) as usize] as char;
            n = n / 32 + 7 * i as u64 + 3;
            c
        })
        .collect()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn every_seed_of_a_large_import_is_sealed_for_its_account_and_credential() {
    let nidan = Instance::new();
    let file = nidan.seed_file(|_| None);
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("imported {ROWS}"));
    for i in [0, 1, 42] {
        assert!(
            !text(&out.stderr).contains(&seed(i)),
            "a seed was printed: {}",
            text(&out.stderr)
        );
    }
    let show = nidan.run(&[
        "admin",
        "user",
        "show",
        &format!("u{}@example.com", ROWS - 1),
    ]);
    assert!(
        text(&show.stdout).contains("totp"),
        "{}",
        text(&show.stdout)
    );

    // Re-sealing opens every seed with the key file's key and the AAD of its account and
    // credential: one seed sealed with the wrong pair would make it fail.
    let rotate = nidan.run(&["admin", "rotate-key"]);
    assert!(rotate.status.success(), "{}", text(&rotate.stderr));
    assert!(
        text(&rotate.stdout).contains(&format!("re-sealed {ROWS} ")),
        "{}",
        text(&rotate.stdout)
    );

    // Importing the same file again replaces every app: still one seed per account.
    let again = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let rotate = nidan.run(&["admin", "rotate-key"]);
    assert!(
        text(&rotate.stdout).contains(&format!("re-sealed {ROWS} ")),
        "{}",
        text(&rotate.stdout)
    );
}

#[test]
fn a_bad_row_late_in_a_large_file_names_its_line_and_imports_nothing() {
    let nidan = Instance::new();
    let file = nidan.seed_file(|line| match line {
        5_000 => Some("late@example.com,not!base32".into()),
        5_500 => Some(format!("u0@example.com,{}", seed(0))),
        _ => None,
    });
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 5000") && err.contains("nothing imported"),
        "{err}"
    );
    let show = nidan.run(&["admin", "user", "show", "u0@example.com"]);
    assert_eq!(show.status.code(), Some(1), "nothing may be imported");
}

#[test]
fn a_repeated_email_before_a_bad_row_is_the_error_reported() {
    let nidan = Instance::new();
    let file = nidan.seed_file(|line| match line {
        3_000 => Some(format!("U10@Example.com,{}", seed(3))),
        5_000 => Some("late@example.com,not!base32".into()),
        _ => None,
    });
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 3000") && err.contains("appears twice"),
        "{err}"
    );
    let show = nidan.run(&["admin", "user", "show", "u0@example.com"]);
    assert_eq!(show.status.code(), Some(1), "nothing may be imported");
}
