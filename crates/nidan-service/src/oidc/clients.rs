//! The operator's side of the OpenID Connect provider: registering apps and rotating the keys
//! (`nidan admin oidc …`). Each action is logged as an audit event.

use nidan_domain::check_redirect_uri;

use super::prefix;
use crate::Service;
use crate::error::{ServiceError, ServiceResult};
use crate::ports::OidcClient;

/// A new client, as the operator describes it.
#[derive(Clone, Debug, Default)]
pub struct NewClient {
    /// The `client_id` (letters, digits, `.`, `_`, `-`; at most 64).
    pub id: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required), such as a single-page or native app.
    pub public: bool,
    /// Skips the consent page (apps of the operator's own).
    pub first_party: bool,
    /// `EdDSA` for Ed25519-signed ID tokens; otherwise RS256.
    pub eddsa: bool,
}

impl Service {
    /// Registers a client; answers its secret (shown once; only its digest is kept), or `None`
    /// for a public client.
    pub async fn add_oidc_client(&self, new: NewClient) -> ServiceResult<Option<String>> {
        let id_ok = (1..=64).contains(&new.id.len())
            && new
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(ServiceError::InvalidRequest(
                "a client id is 1 to 64 letters, digits, `.`, `_` or `-`".into(),
            ));
        }
        if new.redirect_uris.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "give at least one --redirect-uri".into(),
            ));
        }
        for uri in &new.redirect_uris {
            check_redirect_uri(uri).map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
        }
        let secret = (!new.public).then(|| self.new_token(prefix::CLIENT_SECRET));
        self.store_ref()
            .create_oidc_client(OidcClient {
                id: new.id.clone(),
                secret_digest: secret.as_ref().map(|s| s.digest()),
                redirect_uris: new.redirect_uris,
                first_party: new.first_party,
                id_token_alg: if new.eddsa { "EdDSA" } else { "RS256" }.into(),
                created_at: self.now(),
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    ServiceError::Conflict("a client with this id exists")
                }
                e => e.into(),
            })?;
        tracing::info!(target: "nidan::audit", action = "oidc_client_added", client = %new.id, public = new.public, first_party = new.first_party, "OpenID Connect client added");
        Ok(secret.map(|s| s.expose().to_owned()))
    }

    /// The registered clients.
    pub async fn oidc_clients(&self) -> ServiceResult<Vec<OidcClient>> {
        Ok(self.store_ref().list_oidc_clients().await?)
    }

    /// Removes a client with its codes and tokens.
    pub async fn remove_oidc_client(&self, id: &str) -> ServiceResult<()> {
        if !self.store_ref().delete_oidc_client(id).await? {
            return Err(ServiceError::NotFound("no such client"));
        }
        tracing::info!(target: "nidan::audit", action = "oidc_client_removed", client = %id, "OpenID Connect client removed");
        Ok(())
    }
}
