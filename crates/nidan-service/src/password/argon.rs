//! Argon2id into caller-provided memory: the hashing threads reuse one block each instead of
//! allocating 19 MiB per hash (see `pool.rs` for why that matters).
//!
//! Hashing produces the same PHC string as `argon2`'s `PasswordHasher`; verifying parses the
//! stored PHC string and uses *its* algorithm, version, parameters, salt and output length, so
//! hashes made with other parameters than the current ones keep working.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::HashParams;
use super::pool::Memory;
use crate::error::{ServiceError, ServiceResult};

/// Output length of new hashes, in bytes (argon2's default; what existing hashes use).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// The largest output a PHC string can carry.
const MAX_OUTPUT_LEN: usize = Output::MAX_LENGTH;

/// The `argon2` parameters for `params`.
pub fn argon_params(params: HashParams) -> ServiceResult<Params> {
    Params::new(params.m_kib, params.t, params.p, Some(OUTPUT_LEN))
        .map_err(|e| ServiceError::Internal(format!("argon2 params: {e}")))
}

/// Hashes `password` with Argon2id v1.3 into a PHC string, in `memory`.
pub fn hash(
    params: HashParams,
    password: &[u8],
    salt: &[u8; 16],
    memory: &mut Memory,
) -> ServiceResult<String> {
    let params = argon_params(params)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
    memory
        .with_blocks(params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password, salt, &mut out[..], blocks)
        })
        .map_err(|e| ServiceError::Internal(format!("argon2 hash: {e}")))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| ServiceError::Internal(format!("argon2 params: {e}")))?,
        salt: Some(Salt::new(salt).map_err(|e| ServiceError::Internal(format!("salt: {e}")))?),
        hash: Some(
            Output::new(&out[..]).map_err(|e| ServiceError::Internal(format!("output: {e}")))?,
        ),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed in `memory` with the stored
/// hash's own algorithm and parameters. Anything unparsable is simply no match.
pub fn verify(stored: &str, password: &[u8], memory: &mut Memory) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    // Takes m, t, p (and any key id or data) from the string, the output length from its hash.
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let len = expected.len();
    if len > MAX_OUTPUT_LEN {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = Zeroizing::new([0u8; MAX_OUTPUT_LEN]);
    let computed = memory.with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out[..len], blocks)
    });
    computed.is_ok() && bool::from(out[..len].ct_eq(expected.as_bytes()))
}
