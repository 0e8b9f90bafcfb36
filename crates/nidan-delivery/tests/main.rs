//! nidan-delivery's integration tests, all in one test binary: each file beside this one is a
//! module, and the helpers they share (`common`) are declared once, here.
//!
//!   cargo test -p nidan-delivery --test main          # all of them
//!   cargo test -p nidan-delivery --test main smtp::   # one module
#![allow(clippy::unwrap_used)]

mod common;

mod logs;
mod outbox;
mod sms;
mod smtp;
mod templates;
