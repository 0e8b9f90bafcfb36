//! The keys that sign ID tokens: an RSA key (`RS256`, what every client supports) and an Ed25519
//! key (`EdDSA`, for clients that ask for it), made when the server starts (or on first use),
//! sealed under the key file like
//! TOTP seeds, replaced by `nidan admin oidc rotate-keys`. A replaced key stays in the JWKS for
//! [`RETIRED_KEPT_SECS`], longer than any token it signed lives.
//!
//! Why these crates: `jsonwebtoken` signs with `ring` (constant-time RSA and Ed25519, already in
//! the build for TLS); `ring` cannot make RSA keys, so the RSA key is made once by the `rsa` crate
//! (its private-key operations are not constant time, which matters for signing on every request
//! but not for a key made once and never used by it again) from randomness of the service's
//! `Rng`, through ChaCha20.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

use crate::error::{ServiceError, ServiceResult};
use crate::ports::SigningKey;
use crate::{Service, UnixTime};

/// How long a replaced key stays published: a day, far beyond an ID token's life.
pub const RETIRED_KEPT_SECS: i64 = 86_400;

/// How long the opened keys are used before the store is asked again (a small read).
pub const KEYS_REREAD_SECS: i64 = 2;

/// RSA modulus size.
const RSA_BITS: usize = 2048;

/// The PKCS#8 (v1) prefix of an Ed25519 private key (RFC 8410 §7), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key ready to sign.
pub(crate) struct Signer {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    key: EncodingKey,
}

impl Signer {
    /// `claims` as a signed JWT.
    pub(crate) fn sign(&self, claims: &serde_json::Value) -> ServiceResult<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| ServiceError::Internal(format!("signing an ID token failed: {e}")))
    }
}

/// The signing keys in use, opened.
pub(crate) struct Signers {
    pub(crate) rs256: Signer,
    pub(crate) eddsa: Signer,
    /// The public keys to publish (current and recently retired), as JWKs.
    pub(crate) jwks: Vec<serde_json::Value>,
}

fn aad(kid: &str) -> Vec<u8> {
    format!("nidan-oidc-key:{kid}").into_bytes()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

impl Service {
    /// A fresh pair of keys (RSA and Ed25519), sealed.
    fn new_signing_keys(&self) -> ServiceResult<Vec<SigningKey>> {
        let now = self.now();
        let mut rng = ChaCha20Rng::from_seed(self.random());
        let rsa_key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS)
            .map_err(|e| ServiceError::Internal(format!("making an RSA key failed: {e}")))?;
        let rsa_der = rsa_key
            .to_pkcs1_der()
            .map_err(|e| ServiceError::Internal(format!("encoding an RSA key failed: {e}")))?;
        let rsa_kid = format!("rs-{}", b64(&self.random::<9>()));
        let rsa_jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": rsa_kid,
            "n": b64(&rsa_key.n().to_bytes_be()), "e": b64(&rsa_key.e().to_bytes_be()),
        });

        let seed: [u8; 32] = self.random();
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|e| ServiceError::Internal(format!("making an Ed25519 key failed: {e}")))?;
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let mut ed_der = ED25519_PKCS8_PREFIX.to_vec();
        ed_der.extend_from_slice(&seed);
        let ed_kid = format!("ed-{}", b64(&self.random::<9>()));
        let ed_jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": ed_kid,
            "x": b64(&public),
        });

        let keyring = &self.inner.secrets.keyring;
        let seal = |kid: &str, der: &[u8]| keyring.seal(self.random(), &aad(kid), der);
        Ok(vec![
            SigningKey {
                sealed: seal(&rsa_kid, rsa_der.as_bytes()),
                kid: rsa_kid,
                alg: "RS256".into(),
                public_jwk: rsa_jwk.to_string(),
                created_at: now,
                retired_at: None,
            },
            SigningKey {
                sealed: seal(&ed_kid, &ed_der),
                kid: ed_kid,
                alg: "EdDSA".into(),
                public_jwk: ed_jwk.to_string(),
                created_at: now,
                retired_at: None,
            },
        ])
    }

    /// Replaces the signing keys; the old ones stay published for [`RETIRED_KEPT_SECS`].
    pub async fn rotate_signing_keys(&self) -> ServiceResult<Vec<String>> {
        let keys = self.new_signing_keys()?;
        let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        self.store_ref().put_signing_keys(keys, self.now()).await?;
        self.forget_signers();
        tracing::info!(target: "nidan::audit", action = "oidc_keys_rotated", kids = %kids.join(","), "OpenID Connect signing keys rotated");
        Ok(kids)
    }

    /// The keys in use, opened (made on first use; read from the store again after
    /// [`Service::forget_signers`] or every [`KEYS_REREAD_SECS`], so that a rotation by another
    /// process or node shows in the JWKS and the signatures within seconds).
    pub(crate) async fn signers(&self) -> ServiceResult<Arc<Signers>> {
        let now = self.now();
        if let Some((at, signers)) = self.inner.signers.lock().ok().and_then(|g| g.clone())
            && now - at < KEYS_REREAD_SECS
        {
            return Ok(signers);
        }
        let mut keys = self.store_ref().signing_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            let fresh = self.new_signing_keys()?;
            self.store_ref().first_signing_keys(fresh).await?;
            keys = self.store_ref().signing_keys().await?;
        }
        let signers = Arc::new(self.open_signers(&keys, now)?);
        if let Ok(mut slot) = self.inner.signers.lock() {
            *slot = Some((now, Arc::clone(&signers)));
        }
        Ok(signers)
    }

    /// Makes the signing keys when there are none yet (at start; errors are logged, and the
    /// first use tries again).
    pub async fn prepare_signing_keys(&self) {
        if let Err(e) = self.signers().await {
            tracing::error!(error = %e, "could not prepare the OpenID Connect signing keys");
        }
    }

    /// Forgets the opened keys (after a rotation through this process).
    pub(crate) fn forget_signers(&self) {
        if let Ok(mut slot) = self.inner.signers.lock() {
            *slot = None;
        }
    }

    fn open_signers(&self, keys: &[SigningKey], now: UnixTime) -> ServiceResult<Signers> {
        let current = |alg: &str| {
            keys.iter()
                .find(|k| k.retired_at.is_none() && k.alg == alg)
                .ok_or_else(|| ServiceError::Internal(format!("no {alg} signing key")))
        };
        let open = |k: &SigningKey| {
            self.inner
                .secrets
                .keyring
                .open(&k.sealed, &aad(&k.kid))
                .map_err(|e| ServiceError::Internal(format!("a signing key does not open: {e}")))
        };
        let rsa = current("RS256")?;
        let ed = current("EdDSA")?;
        let rs256 = Signer {
            kid: rsa.kid.clone(),
            alg: Algorithm::RS256,
            key: EncodingKey::from_rsa_der(&open(rsa)?),
        };
        let eddsa = Signer {
            kid: ed.kid.clone(),
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_der(&open(ed)?),
        };
        let jwks = keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|t| now - t < RETIRED_KEPT_SECS))
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(Signers { rs256, eddsa, jwks })
    }

    /// Seals every signing key again under the newest key of the key file; answers how many.
    pub(crate) async fn reseal_signing_keys(&self) -> ServiceResult<usize> {
        let keyring = &self.inner.secrets.keyring;
        let current = keyring.current_version();
        let mut rows = Vec::new();
        for k in self.store_ref().signing_keys().await? {
            if nidan_domain::Keyring::blob_version(&k.sealed).ok() == Some(current) {
                continue;
            }
            let der = keyring
                .open(&k.sealed, &aad(&k.kid))
                .map_err(|e| ServiceError::Internal(format!("open key {}: {e}", k.kid)))?;
            rows.push((
                k.kid.clone(),
                keyring.seal(self.random(), &aad(&k.kid), &der),
            ));
        }
        let n = rows.len();
        self.store_ref().reseal_signing_keys(rows).await?;
        Ok(n)
    }

    /// The JWKS document.
    pub async fn jwks(&self) -> ServiceResult<serde_json::Value> {
        Ok(json!({ "keys": self.signers().await?.jwks }))
    }
}
