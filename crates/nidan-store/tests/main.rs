//! nidan-store's integration tests, all in one test binary: each file beside this one is a
//! module, and the store makers they share (`pg`, `sqlite`) are declared once, here.
//!
//!   cargo test -p nidan-store --test main                         # all of them
//!   cargo test -p nidan-store --test main conformance_postgres::  # one module
#![allow(clippy::unwrap_used)]

mod pg;
mod sqlite;

mod backend_metrics;
mod conformance_postgres;
mod conformance_sqlite;
mod import_batches;
mod migrations_equivalent;
mod reworded_migrations;
