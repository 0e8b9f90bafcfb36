//! The pure rules of nidan: access rules and redirects for the apps behind it, one-time-password math, what people type, recovery codes, keyed
//! hashes, bearer tokens, sealing TOTP seeds at rest, guessing limits, and input validation.
//!
//! This crate exists so that every security-relevant decision can be tested without a clock, a
//! database, a network or an operating system. It guarantees:
//!
//! - **No I/O, no clock, no OS randomness.** Time comes in as `i64` Unix seconds; randomness
//!   comes in as byte arrays chosen by the caller (from the OS CSPRNG in the service layer).
//! - **Secrets never print.** Every type holding a secret redacts itself in `Debug` and is held
//!   in [`zeroize::Zeroizing`] so its memory is wiped on drop.
//! - **Secret comparisons are constant time** (via `subtle`).
//! - **No panics on input.** Every function taking user-controlled data returns a `Result` or a
//!   total answer; nothing unwraps.
//!
//! All public items are re-exported at the crate root.
#![warn(missing_docs)]

pub mod access;
pub mod client;
pub mod code;
pub mod email;
pub mod hotp;
pub mod keyed;
pub mod method;
pub mod oidc;
pub mod otpauth;
pub mod password;
pub mod phone;
pub mod recovery;
pub mod redirect;
pub mod seal;
pub mod secret;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod webhook;

pub use access::*;
pub use client::*;
pub use code::*;
pub use email::*;
pub use hotp::*;
pub use keyed::*;
pub use method::*;
pub use oidc::*;
pub use otpauth::*;
pub use password::*;
pub use phone::*;
pub use recovery::*;
pub use redirect::*;
pub use seal::*;
pub use secret::*;
pub use throttle::*;
pub use token::*;
pub use totp::*;
pub use webhook::*;
