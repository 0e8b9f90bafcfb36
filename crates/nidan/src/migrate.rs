//! `nidan migrate`: bring the database schema up to date and say how many migrations ran, so a
//! deploy script can run it before starting new servers. It also creates the data directory and
//! the key file on a fresh install, so the first `serve` finds everything in place.

use anyhow::{Context, Result};

use crate::config::Config;
use crate::wiring;

/// Applies pending migrations and prints how many ran.
pub async fn run(config: Config) -> Result<()> {
    wiring::ensure_data_dir(&config)?;
    wiring::load_keys(&config)?;
    let database = nidan_store::redact_url(&config.database.url);
    let applied = nidan_store::migrate(&config.database.url, &wiring::store_options(&config))
        .await
        .with_context(|| format!("database {database}"))?;
    match applied {
        0 => println!("the database is up to date (no migration to apply)"),
        1 => println!("applied 1 migration"),
        n => println!("applied {n} migrations"),
    }
    Ok(())
}
