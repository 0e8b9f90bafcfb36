//! The SQLite and PostgreSQL migrations must describe the same schema: the same tables, each with
//! the same columns, and the same indexes. Types differ by design (INTEGER/BIGINT, BLOB/BYTEA,
//! INTEGER 0-1/BOOLEAN), names may not. Reads the SQL files, so it runs without a database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Table → columns, and the index names, from the migrations in `dir` applied in order.
fn schema(dir: &str) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no migrations in {}", dir.display());
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut indexes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let sql: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in sql.split(';') {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
            match upper
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["CREATE", "TABLE", ..] => {
                    let name = words[2].trim_end_matches('(').to_lowercase();
                    let open = stmt.find('(').unwrap();
                    let close = stmt.rfind(')').unwrap();
                    let mut cols = BTreeSet::new();
                    let mut depth = 0;
                    let mut part = String::new();
                    for ch in stmt[open + 1..close].chars().chain(std::iter::once(',')) {
                        match ch {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            ',' if depth == 0 => {
                                let first =
                                    part.split_whitespace().next().unwrap_or("").to_lowercase();
                                if !first.is_empty()
                                    && !["primary", "unique", "foreign", "check", "constraint"]
                                        .contains(&first.as_str())
                                {
                                    cols.insert(first);
                                }
                                part.clear();
                                continue;
                            }
                            _ => {}
                        }
                        part.push(ch);
                    }
                    assert!(
                        tables.insert(name.clone(), cols).is_none(),
                        "table {name} created twice"
                    );
                }
                ["ALTER", "TABLE", _, "ADD", "COLUMN", ..] => {
                    let table = words[2].to_lowercase();
                    let col = words[5].to_lowercase();
                    tables
                        .get_mut(&table)
                        .unwrap_or_else(|| panic!("ALTER of unknown table {table}"))
                        .insert(col);
                }
                ["ALTER", "TABLE", _, "RENAME", "TO", _] => {
                    let cols = tables
                        .remove(&words[2].to_lowercase())
                        .unwrap_or_else(|| panic!("RENAME of unknown table {}", words[2]));
                    tables.insert(words[5].to_lowercase(), cols);
                }
                // Constraints and nullability are not part of the comparison.
                ["ALTER", "TABLE", _, "ALTER", "COLUMN", ..]
                | ["ALTER", "TABLE", _, "ADD", "CONSTRAINT", ..] => {}
                // A table rebuilt (SQLite cannot change a column): the copy's rows are data.
                ["INSERT", "INTO", ..] => {}
                ["DROP", "TABLE", name] => {
                    let name = name.to_lowercase();
                    assert!(
                        tables.remove(&name).is_some(),
                        "DROP of unknown table {name}"
                    );
                }
                ["CREATE", "INDEX", ..] => {
                    indexes.insert(words[2].to_lowercase());
                }
                ["CREATE", "UNIQUE", "INDEX", ..] => {
                    indexes.insert(words[3].to_lowercase());
                }
                ["DROP", "INDEX", name, ..] => {
                    let name = name.trim_end_matches(';').to_lowercase();
                    assert!(indexes.remove(&name), "DROP of unknown index {name}");
                }
                [] => {}
                other => panic!(
                    "the equivalence test does not understand `{}` in {}",
                    other.join(" "),
                    file.display()
                ),
            }
        }
    }
    (tables, indexes)
}

#[test]
fn sqlite_and_postgres_migrations_define_the_same_tables_columns_and_indexes() {
    let (sqlite_tables, sqlite_indexes) = schema("sqlite");
    let (pg_tables, pg_indexes) = schema("postgres");
    assert!(
        sqlite_tables.contains_key("users") && sqlite_tables["users"].contains("failed_attempts"),
        "the parser reads the SQLite schema: {sqlite_tables:?}"
    );
    assert_eq!(
        sqlite_tables.keys().collect::<Vec<_>>(),
        pg_tables.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, cols) in &sqlite_tables {
        assert_eq!(cols, &pg_tables[table], "the same columns in {table}");
    }
    assert_eq!(sqlite_indexes, pg_indexes, "the same indexes");
}

#[test]
fn sqlite_and_postgres_have_the_same_migration_files() {
    let names = |dir: &str| -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names("sqlite"),
        names("postgres"),
        "one migration per version on both backends"
    );
}
