//! The REST user profile service client (`client.userProfileService` "rest"), as
//! upstream calls it: both lookup and save are `POST`s of JSON to `host` +
//! `lookupPath` / `savePath` with the configured `headers` (plus `Content-Type` and
//! `Accept: application/json`). Lookup sends `{"user_id":"<id>"}` and reads a 200
//! answer `{"user_id":"<id>","experiment_bucket_map":{"<experiment id>":
//! {"variation_id":"<variation id>"}}}`; save sends the same shape. Any other
//! status is a failure.
//!
//! This module imports nothing from `server`; the caller decides what a failure
//! means (the decision goes on without a profile).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::UserProfileServiceSettings;
use crate::util::error_chain;

/// Experiment id → variation id.
pub type Profile = BTreeMap<String, String>;

/// Why a lookup or save failed; messages never contain the headers (which may hold
/// credentials).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpsError {
    /// `host` + path is not an absolute URL.
    #[error("client.userProfileService.services.rest: {url:?} is not an absolute URL")]
    InvalidUrl {
        /// `host` + path.
        url: String,
    },
    /// A header name or value cannot be sent.
    #[error("client.userProfileService.services.rest.headers: {name:?} cannot be sent")]
    InvalidHeader {
        /// The header name.
        name: String,
    },
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot build the HTTP client for the REST user profile service")]
    HttpClient(#[source] reqwest::Error),
    /// The request failed below HTTP, or timed out.
    #[error("user profile request to {url} failed: {detail}")]
    Transport {
        /// The endpoint.
        url: String,
        /// The error and its causes, on one line.
        detail: String,
    },
    /// The service answered with a status other than 200.
    #[error("user profile service at {url} answered HTTP {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// A 200 lookup answer that is not a profile object (or a request that cannot
    /// be encoded).
    #[error("malformed user profile from {url}: {reason}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// What is wrong with the reply.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Bucket {
    variation_id: String,
}

#[derive(Serialize)]
struct LookupRequest<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct SaveRequest<'a> {
    user_id: &'a str,
    experiment_bucket_map: BTreeMap<&'a str, Bucket>,
}

/// The REST user profile service client.
#[derive(Debug, Clone)]
pub struct RestUps {
    http: reqwest::Client,
    lookup_url: String,
    save_url: String,
}

impl RestUps {
    /// The client for the `rest` service, when `default` selects it: `host`,
    /// `lookupPath`, `savePath`, `headers`, and our `timeout` (5s, upstream's
    /// HTTP client's) per request.
    ///
    /// # Errors
    ///
    /// [`UpsError::InvalidUrl`], [`UpsError::InvalidHeader`] or
    /// [`UpsError::HttpClient`] when the settings cannot be used.
    pub fn from_settings(settings: &UserProfileServiceSettings) -> Result<Option<Self>, UpsError> {
        if !settings.default.eq_ignore_ascii_case("rest") {
            return Ok(None);
        }
        let text = |key: &str| settings.selected_str(key).unwrap_or_default();
        let host = text("host");
        let url = |path: String| {
            let url = format!("{host}{path}");
            match reqwest::Url::parse(&url) {
                Ok(parsed) if parsed.has_host() => Ok(parsed.to_string()),
                _ => Err(UpsError::InvalidUrl { url }),
            }
        };
        let lookup_url = url(text("lookupPath"))?;
        let save_url = url(text("savePath"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        let json = reqwest::header::HeaderValue::from_static("application/json");
        headers.insert(reqwest::header::CONTENT_TYPE, json.clone());
        headers.insert(reqwest::header::ACCEPT, json);
        if let Some(map) = settings
            .selected_field("headers")
            .and_then(|v| v.as_mapping())
        {
            for (name, value) in map {
                let name = name.as_str().unwrap_or_default();
                let invalid = || UpsError::InvalidHeader {
                    name: name.to_owned(),
                };
                let value = value.as_str().ok_or_else(invalid)?;
                headers.insert(
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| invalid())?,
                    reqwest::header::HeaderValue::from_str(value).map_err(|_| invalid())?,
                );
            }
        }
        crate::util::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.selected_timeout(Duration::from_secs(5)))
            .default_headers(headers)
            .build()
            .map_err(UpsError::HttpClient)?;
        Ok(Some(RestUps {
            http,
            lookup_url,
            save_url,
        }))
    }

    /// The profile the service has for `user_id`: empty when its answer names no
    /// user (as upstream reads it).
    ///
    /// # Errors
    ///
    /// [`UpsError::Transport`], [`UpsError::Status`] or [`UpsError::Malformed`].
    pub async fn lookup(&self, user_id: &str) -> Result<Profile, UpsError> {
        let body = self
            .post(&self.lookup_url, &LookupRequest { user_id })
            .await?;
        parse_lookup(&body).map_err(|reason| UpsError::Malformed {
            url: self.lookup_url.clone(),
            reason,
        })
    }

    /// Saves (replaces) the profile of `user_id`.
    ///
    /// # Errors
    ///
    /// [`UpsError::Transport`] or [`UpsError::Status`].
    pub async fn save(&self, user_id: &str, profile: &Profile) -> Result<(), UpsError> {
        let request = SaveRequest {
            user_id,
            experiment_bucket_map: profile
                .iter()
                .map(|(experiment, variation)| {
                    (
                        experiment.as_str(),
                        Bucket {
                            variation_id: variation.clone(),
                        },
                    )
                })
                .collect(),
        };
        self.post(&self.save_url, &request).await.map(drop)
    }

    async fn post(&self, url: &str, body: &impl Serialize) -> Result<bytes::Bytes, UpsError> {
        let transport = |err: reqwest::Error| UpsError::Transport {
            url: url.to_owned(),
            detail: error_chain(&err),
        };
        let body = serde_json::to_vec(body).map_err(|e| UpsError::Malformed {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let response = self
            .http
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(UpsError::Status {
                url: url.to_owned(),
                status,
            });
        }
        response.bytes().await.map_err(transport)
    }
}

/// Reads a lookup answer: a profile object, whose bucket entries that are not
/// `{"variation_id": "…"}` are skipped; no `user_id` string means no profile.
fn parse_lookup(body: &[u8]) -> Result<Profile, String> {
    #[derive(Deserialize)]
    struct Answer {
        user_id: Option<serde_json::Value>,
        #[serde(default)]
        experiment_bucket_map: BTreeMap<String, serde_json::Value>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if !matches!(answer.user_id, Some(serde_json::Value::String(_))) {
        return Ok(Profile::new());
    }
    Ok(answer
        .experiment_bucket_map
        .into_iter()
        .filter_map(|(experiment, value)| {
            let bucket: Bucket = serde_json::from_value(value).ok()?;
            Some((experiment, bucket.variation_id))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> UserProfileServiceSettings {
        serde_yaml_ng::from_str(yaml).unwrap_or_default()
    }

    #[test]
    fn only_the_rest_service_builds_a_client_and_its_urls_must_be_absolute() {
        let none = RestUps::from_settings(&settings("default: in-memory"));
        assert!(matches!(none, Ok(None)));
        let ok = RestUps::from_settings(&settings(
            "default: REST\nservices:\n  rest: {host: 'http://h:1', lookupPath: /l, savePath: /s, headers: {X-Key: k}}",
        ));
        let client = ok.ok().flatten();
        assert_eq!(
            client.as_ref().map(|c| c.lookup_url.as_str()),
            Some("http://h:1/l")
        );
        assert_eq!(client.map(|c| c.save_url), Some("http://h:1/s".to_owned()));
        let bad = RestUps::from_settings(&settings(
            "default: rest\nservices:\n  rest: {host: 'h', lookupPath: /l}",
        ));
        assert!(matches!(bad, Err(UpsError::InvalidUrl { .. })));
    }

    #[test]
    fn lookup_answers_are_read_as_upstream_reads_them() {
        let full = br#"{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"2"},"3":"x"}}"#;
        assert_eq!(
            parse_lookup(full),
            Ok(Profile::from([("1".to_owned(), "2".to_owned())]))
        );
        let anonymous = br#"{"experiment_bucket_map":{"1":{"variation_id":"2"}}}"#;
        assert_eq!(parse_lookup(anonymous), Ok(Profile::new()));
        assert!(parse_lookup(b"[]").is_err());
    }
}
