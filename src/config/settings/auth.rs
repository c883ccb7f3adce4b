//! The `auth` section of the API and admin listeners (`api.auth.*`, `admin.auth.*`):
//! upstream's JWT model. Tokens are issued by `POST /oauth/token` to the listed
//! clients and signed with the first HMAC secret, or issued elsewhere and checked
//! against a JWKS document; with neither, the listener is open.
//!
//! Every `Default` impl here is the single place where a default value is written.
//! Secrets (the HMAC secrets, the client secret hashes) never show in `Debug`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Secret, Secrets};

/// Authentication settings of the API or admin listener (`api.auth.*`, `admin.auth.*`).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Lifetime of the tokens `/oauth/token` issues (`ttl`).
    #[serde(with = "crate::config::duration")]
    pub ttl: Duration,
    /// Base64-encoded HMAC secrets (`hmacSecrets`): the first signs issued tokens,
    /// a token signed with any of them is accepted; secret.
    #[serde(rename = "hmacsecrets")]
    pub hmac_secrets: Vec<String>,
    /// A JWKS document whose keys check tokens instead of the HMAC secrets
    /// (`jwksURL`).
    #[serde(rename = "jwksurl")]
    pub jwks_url: String,
    /// How often the JWKS document is fetched again (`jwksUpdateInterval`).
    #[serde(rename = "jwksupdateinterval", with = "crate::config::duration")]
    pub jwks_update_interval: Duration,
    /// Clients that may exchange their id and secret for a token (`clients`).
    pub clients: Vec<AuthClientSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            ttl: Duration::ZERO,
            hmac_secrets: Vec::new(),
            jwks_url: String::new(),
            jwks_update_interval: Duration::ZERO,
            clients: Vec::new(),
        }
    }
}

impl AuthSettings {
    /// Whether requests to the listener must carry a token: an HMAC secret or a
    /// JWKS URL is set.
    pub fn enabled(&self) -> bool {
        !self.hmac_secrets.is_empty() || !self.jwks_url.is_empty()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("ttl", &self.ttl)
            .field("hmac_secrets", &Secrets(&self.hmac_secrets))
            .field("jwks_url", &self.jwks_url)
            .field("jwks_update_interval", &self.jwks_update_interval)
            .field("clients", &self.clients)
            .finish()
    }
}

/// One client that may obtain tokens (`auth.clients[*]`).
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthClientSettings {
    /// The `client_id` it sends.
    pub id: String,
    /// Base64 of the bcrypt hash of its secret's bytes (`secretHash`), as
    /// `agentctl generate-secret` prints it; secret.
    #[serde(rename = "secrethash")]
    pub secret_hash: String,
    /// The SDK keys its tokens grant (`sdkKeys`).
    #[serde(rename = "sdkkeys")]
    pub sdk_keys: Vec<String>,
}

impl fmt::Debug for AuthClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClientSettings")
            .field("id", &self.id)
            .field("secret_hash", &Secret(&self.secret_hash))
            .field("sdk_keys", &self.sdk_keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let auth = AuthSettings {
            hmac_secrets: vec!["hmac-value".to_owned()],
            clients: vec![AuthClientSettings {
                id: "c1".to_owned(),
                secret_hash: "hash-value".to_owned(),
                sdk_keys: vec!["k".to_owned()],
            }],
            ..AuthSettings::default()
        };
        let text = format!("{auth:?}");
        assert!(
            !text.contains("hmac-value") && !text.contains("hash-value"),
            "{text}"
        );
        assert!(text.contains("c1") && text.contains("***"), "{text}");
        assert!(auth.enabled());
        assert!(!AuthSettings::default().enabled());
    }
}
