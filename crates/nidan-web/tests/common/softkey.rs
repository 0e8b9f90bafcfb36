//! A software authenticator for the API tests: it makes real WebAuthn objects (a P-256 key,
//! attestation `none`, ECDSA assertions over authenticator data and client data) from the options
//! nidan sends, with the origin, rp id, flags and signature counter the test chooses, so the
//! error paths (wrong origin, wrong rp id, a replayed answer, a counter going back, another
//! user's key) can be driven exactly. CBOR is written by hand: the few fixed-shape maps CTAP2
//! needs, in canonical key order.
#![allow(dead_code, clippy::unwrap_used)]

use data_encoding::BASE64URL_NOPAD as B64;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING as ALG, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// One credential the authenticator holds.
pub struct SoftCredential {
    pub id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub pkcs8: Vec<u8>,
    /// The signature counter; each assertion adds one first (a test may set it back).
    pub counter: u32,
}

/// The authenticator.
pub struct SoftKey {
    rng: SystemRandom,
    /// Whether it verifies its user (PIN, biometrics): the UV flag.
    pub user_verified: bool,
    pub credentials: Vec<SoftCredential>,
}

/// Where an answer claims to come from.
pub struct Claim<'a> {
    pub origin: &'a str,
    /// `None`: the rp id of the options.
    pub rp_id: Option<&'a str>,
}

impl Claim<'_> {
    /// What a browser on `origin` says.
    pub fn at(origin: &str) -> Claim<'_> {
        Claim {
            origin,
            rp_id: None,
        }
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend([0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

fn unb64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap().as_bytes()).unwrap()
}

impl Default for SoftKey {
    fn default() -> Self {
        Self::new(true)
    }
}

impl SoftKey {
    pub fn new(user_verified: bool) -> Self {
        Self {
            rng: SystemRandom::new(),
            user_verified,
            credentials: Vec::new(),
        }
    }

    fn flags(&self, base: u8) -> u8 {
        base | if self.user_verified { 0x04 } else { 0 }
    }

    /// Answers `navigator.credentials.create` for `options` (the `publicKey` member nidan sends):
    /// a `RegisterPublicKeyCredential` as the browser's `toJSON()` writes it.
    pub fn create(&mut self, options: &Value, claim: Claim<'_>) -> Value {
        let rp_id = claim
            .rp_id
            .unwrap_or_else(|| options["rp"]["id"].as_str().unwrap());
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": options["challenge"],
            "origin": claim.origin,
            "crossOrigin": false,
        })
        .to_string();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ALG, &self.rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref(), &self.rng).unwrap();
        let point = pair.public_key().as_ref(); // 0x04 ‖ x ‖ y
        // COSE key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        cose.extend(&point[1..33]);
        cose.extend([0x22, 0x58, 0x20]);
        cose.extend(&point[33..65]);
        let mut id = vec![0u8; 16];
        self.rng.fill(&mut id).unwrap();
        let mut data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        data.push(self.flags(0x41)); // user present, attested credential data
        data.extend(0u32.to_be_bytes());
        data.extend([0u8; 16]); // AAGUID
        data.extend((id.len() as u16).to_be_bytes());
        data.extend(&id);
        data.extend(&cose);
        let mut attestation = vec![0xa3, 0x63];
        attestation.extend(b"fmt");
        attestation.push(0x64);
        attestation.extend(b"none");
        attestation.push(0x67);
        attestation.extend(b"attStmt");
        attestation.push(0xa0);
        attestation.push(0x68);
        attestation.extend(b"authData");
        cbor_bytes(&mut attestation, &data);
        self.credentials.push(SoftCredential {
            id: id.clone(),
            user_handle: unb64(&options["user"]["id"]),
            pkcs8: pkcs8.as_ref().to_vec(),
            counter: 0,
        });
        json!({
            "id": B64.encode(&id),
            "rawId": B64.encode(&id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(&attestation),
                "clientDataJSON": B64.encode(client_data.as_bytes()),
                "transports": ["usb"],
            },
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// Answers `navigator.credentials.get` for `options` with credential `index` (allowed or
    /// not): a `PublicKeyCredential` as the browser's `toJSON()` writes it.
    pub fn get_with(&mut self, index: usize, options: &Value, claim: Claim<'_>) -> Value {
        let rp_id = claim
            .rp_id
            .unwrap_or_else(|| options["rpId"].as_str().unwrap())
            .to_owned();
        let flags = self.flags(0x01);
        let credential = &mut self.credentials[index];
        credential.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": options["challenge"],
            "origin": claim.origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        data.push(flags);
        data.extend(credential.counter.to_be_bytes());
        let mut signed = data.clone();
        signed.extend(digest(&SHA256, client_data.as_bytes()).as_ref());
        let pair = EcdsaKeyPair::from_pkcs8(&ALG, &credential.pkcs8, &self.rng).unwrap();
        let signature = pair.sign(&self.rng, &signed).unwrap();
        json!({
            "id": B64.encode(&credential.id),
            "rawId": B64.encode(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&data),
                "clientDataJSON": B64.encode(client_data.as_bytes()),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    /// [`SoftKey::get_with`] the newest credential.
    pub fn get(&mut self, options: &Value, claim: Claim<'_>) -> Value {
        let last = self.credentials.len() - 1;
        self.get_with(last, options, claim)
    }
}
