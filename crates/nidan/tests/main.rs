//! The nidan binary's integration tests, all in one test binary: each file beside this one is a
//! module, and what they share (`common`) is declared once, here.
//!
//!   cargo test -p nidan --test main                # all of them
//!   cargo test -p nidan --test main crash::        # one module
#![allow(clippy::unwrap_used)]

mod common;

mod cli;
mod crash;
mod import_large;
mod journey;
mod oidc;
mod postgres_start;
mod proxies;
mod risk;
mod webhooks;
