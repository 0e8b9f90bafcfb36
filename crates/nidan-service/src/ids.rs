//! Identifier newtypes, so a session id can never be passed where a user id is expected.
//!
//! Ids are random (128 bits, hex) and carry no meaning; they are safe to show and log. They are
//! *not* secrets: every bearer secret is a separate token whose digest is stored instead.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read back from storage or from a request path.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// A fresh id from 16 random bytes.
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(hex(&bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An account.
    UserId
);
id_type!(
    /// One enrolled (or pending) authenticator-app credential.
    CredentialId
);
id_type!(
    /// A signed-in session (the public handle, not the token).
    SessionId
);
id_type!(
    /// A remembered device (the public handle, not the token).
    DeviceId
);
id_type!(
    /// An app's API key (the public handle, not the key).
    ApiKeyId
);

/// Lowercase hex, used for ids and for digests in logs.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
