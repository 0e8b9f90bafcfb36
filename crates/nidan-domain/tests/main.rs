//! nidan-domain's integration tests, all in one test binary: each file beside this one is a
//! module.
//!
//!   cargo test -p nidan-domain --test main                 # all of them
//!   cargo test -p nidan-domain --test main rfc_vectors::   # one module
#![allow(clippy::unwrap_used)]

mod fuzz_regressions;
mod oathtool_agreement;
mod properties;
mod rfc_vectors;
