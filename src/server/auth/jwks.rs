//! The JWKS key set of `auth.jwksURL`: fetched once before `serve` starts (a URL
//! that does not answer with a key set stops start-up, as upstream), then again
//! every `jwksUpdateInterval` in the background. A failed refresh keeps the keys
//! already known and is logged.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio_util::sync::CancellationToken;

/// How long one fetch of the key set may take (upstream's HTTP client timeout).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the key set could not be fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwksError {
    /// No HTTP client could be built.
    #[error("cannot build the JWKS HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request failed.
    #[error("cannot fetch the JWKS document {url}: {source}")]
    Fetch {
        /// `jwksURL`.
        url: String,
        /// The transport error or error status.
        source: reqwest::Error,
    },
    /// The answer is not a key set.
    #[error("{url} did not answer with a JWKS key set: {source}")]
    Decode {
        /// `jwksURL`.
        url: String,
        /// Why it does not decode.
        source: serde_json::Error,
    },
}

/// The current keys of a JWKS URL, refreshed in the background.
pub(crate) struct KeySet {
    keys: Arc<RwLock<JwkSet>>,
}

impl KeySet {
    /// Fetches the key set, then refreshes it every `interval` until `cancel`.
    ///
    /// # Errors
    ///
    /// [`JwksError`] when the first fetch fails.
    pub(crate) async fn start(
        url: &str,
        interval: Duration,
        cancel: CancellationToken,
    ) -> Result<KeySet, JwksError> {
        crate::util::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(JwksError::Client)?;
        let keys = Arc::new(RwLock::new(fetch(&http, url).await?));
        tokio::spawn(refresh(
            http,
            url.to_owned(),
            interval,
            Arc::clone(&keys),
            cancel,
        ));
        Ok(KeySet { keys })
    }

    /// The key with id `kid` and the algorithms a token signed with it may name.
    ///
    /// # Errors
    ///
    /// The reason (upstream's words) when no usable key has that id.
    pub(crate) fn key(&self, kid: &str) -> Result<(DecodingKey, Vec<Algorithm>), String> {
        let keys = crate::util::read(&self.keys);
        let unknown = || format!("unable to find key {kid:?}");
        let jwk = keys.find(kid).ok_or_else(unknown)?;
        let algorithms = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256, Algorithm::ES384],
            AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
            // A shared secret published in a key set is no secret: never trusted.
            AlgorithmParameters::OctetKey(_) => return Err(unknown()),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|_| unknown())?;
        Ok((key, algorithms))
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<JwkSet, JwksError> {
    let failed = |source| JwksError::Fetch {
        url: url.to_owned(),
        source,
    };
    let body = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?
        .bytes()
        .await
        .map_err(failed)?;
    serde_json::from_slice(&body).map_err(|source| JwksError::Decode {
        url: url.to_owned(),
        source,
    })
}

async fn refresh(
    http: reqwest::Client,
    url: String,
    interval: Duration,
    keys: Arc<RwLock<JwkSet>>,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match fetch(&http, &url).await {
            Ok(set) => {
                tracing::debug!(url, keys = set.keys.len(), "JWKS key set refreshed");
                *crate::util::write(&keys) = set;
            }
            Err(err) => tracing::warn!(
                "unable to update the JWKS key set (the previous keys stay in use): {}",
                crate::util::error_chain(&err)
            ),
        }
    }
}
