//! The attack suite: the HTTP API driven as an attacker would drive it, through the real router on
//! a real SQLite file.
//!
//! Each test is named after its attack and maps to a test of the attack plan in
//! `shared/design/security-sources.md` §5 (T01–T30), given in its doc comment. Each asserts the
//! exact answer (status and error code) and that nothing changed in the database beyond what the
//! attack is allowed to change (usually: one more counted failure, or nothing at all), by comparing
//! snapshots of the tables read straight from the SQLite file.
//!
//! What `tests/security.rs`, `tests/races.rs` and `tests/flows.rs` cover already is not repeated
//! here; these tests extend them (more paths, mixed paths, hostile variants, database state).

pub mod support;

mod bypass;
mod enumeration;
mod guessing;
mod input;
mod oob;
mod races;
mod replay;
mod review;
