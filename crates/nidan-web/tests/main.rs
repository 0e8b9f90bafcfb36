//! nidan-web's integration tests, all in one test binary: each file beside this one is a module,
//! and the harnesses they share are declared once, here.
//!
//!   cargo test -p nidan-web --test main                # all of them
//!   cargo test -p nidan-web --test main multinode::    # one module
#![allow(clippy::unwrap_used)]

/// The real router on a real SQLite file, a clock the test moves, HTTP helpers, log capture.
mod common;
/// Several nodes on one PostgreSQL database, fresh schemas.
mod nodes;

mod abroad;
mod app_codes;
mod attack;
mod browser;
mod codes;
mod flows;
mod forward_auth;
mod key_rotation;
mod logs_and_socket;
mod multinode;
mod oidc_codes;
mod openapi;
mod own_life;
mod pages;
mod races;
mod security;
mod webauthn;
