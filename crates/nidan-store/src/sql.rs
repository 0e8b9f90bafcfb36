//! SQL text written once for both backends.
//!
//! A statement is written in PostgreSQL's form, with `$1`, `$2`, … as placeholders;
//! [`sql!`](crate::sql!) makes the SQLite form at compile time by turning each `$` into `?` (the
//! same length, so a `const` can do it). SQLite reads `?N` as the N-th parameter, exactly what
//! `$N` means to PostgreSQL; rusqlite would number `$N` by first appearance instead, which is
//! why `$N` is not handed to SQLite as it is. Statements written this way must not contain a
//! `$` anywhere else (no dollar quoting, no `$` in string literals).

/// `sql` with every `$` turned into `?`, as bytes (`N` is `sql.len()`).
pub(crate) const fn sqlite_form<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if bytes[i] == b'$' { b'?' } else { bytes[i] };
        i += 1;
    }
    out
}

/// Declares a statement once: `sql!(NAME = "… $1 …")` makes a module `NAME` with `PG` (the text
/// as written) and `SQLITE` (the same with `?N`).
#[macro_export]
#[doc(hidden)]
macro_rules! sql {
    ($(#[$doc:meta])* $name:ident = $text:expr) => {
        $(#[$doc])*
        #[allow(non_snake_case, dead_code)]
        pub(crate) mod $name {
            /// For PostgreSQL.
            pub(crate) const PG: &str = $text;
            const BYTES: [u8; PG.len()] = $crate::sql::sqlite_form::<{ PG.len() }>(PG);
            /// For SQLite.
            pub(crate) const SQLITE: &str = match core::str::from_utf8(&BYTES) {
                Ok(text) => text,
                Err(_) => panic!("SQL text is not UTF-8"),
            };
        }
    };
}

#[cfg(test)]
mod tests {
    crate::sql!(EXAMPLE = "SELECT a FROM t WHERE b = $1 AND c > $2 OR d = $1");

    #[test]
    fn placeholders_become_numbered_question_marks() {
        assert_eq!(
            EXAMPLE::SQLITE,
            "SELECT a FROM t WHERE b = ?1 AND c > ?2 OR d = ?1"
        );
        assert_eq!(
            EXAMPLE::PG,
            "SELECT a FROM t WHERE b = $1 AND c > $2 OR d = $1"
        );
    }
}
