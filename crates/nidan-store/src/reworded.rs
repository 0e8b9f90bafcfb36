//! Migrations whose text changed after they shipped without changing what they do (their
//! comments were reworded). A database that applied the earlier text records the earlier checksum,
//! and both migrators refuse an applied migration whose file changed; so before migrating, such a
//! recorded checksum is brought to the current one. Any other change to an applied migration is
//! still refused.

use sqlx::migrate::Migrator;

use crate::db::Sql;
use crate::sql;

/// A migration, and the SHA-384 (hex) of a text of it that shipped earlier.
pub(crate) struct Reworded {
    pub version: i64,
    pub earlier: &'static str,
}

/// The SQLite migrations reworded since they shipped.
pub(crate) const SQLITE: &[Reworded] = &[Reworded {
    version: 4,
    earlier: "6a6df5c97b12b431f3f3b337409de0f18281a55ffbec75a14f76cf8928237dde14acddd96545894104f5b221e5492c0b",
}];

/// The PostgreSQL migrations reworded since they shipped.
pub(crate) const POSTGRES: &[Reworded] = &[Reworded {
    version: 4,
    earlier: "b7d5b44844baa19da9c311f0cab65a9824ff4b323f5f392aae06bc7145ed7fad89fcd1f481bf48c11b06a3c79edf8fdd",
}];

/// Records the current checksum where the earlier one is recorded. Parameters: the current
/// checksum, the version, the earlier checksum.
pub(crate) const UPDATE: Sql =
    sql!("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3");

/// (current checksum, version, earlier checksum) for each reworded migration `migrator` has.
pub(crate) fn updates(migrator: &Migrator, reworded: &[Reworded]) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
    reworded
        .iter()
        .filter_map(|r| {
            let current = migrator.iter().find(|m| m.version == r.version)?;
            Some((current.checksum.to_vec(), r.version, hex(r.earlier)))
        })
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each earlier checksum is a SHA-384 (48 bytes) and differs from the current one.
    #[test]
    fn each_earlier_checksum_is_a_sha384_other_than_the_current() {
        for (migrator, reworded) in [
            (&crate::sqlite::MIGRATOR, SQLITE),
            (&crate::postgres::MIGRATOR, POSTGRES),
        ] {
            for (current, _, earlier) in updates(migrator, reworded) {
                assert_eq!(earlier.len(), 48);
                assert_ne!(current, earlier);
            }
        }
    }
}
