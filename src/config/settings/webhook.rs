//! The webhook section of the settings tree (`webhook.*`): the listener and the
//! per-project signature and SDK-key settings, keyed by a project id written as a
//! YAML integer or a string of digits.
//!
//! Every `Default` impl here is the single place where a default value is written.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::Secret;

/// The webhook listener (`webhook.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// TCP port, as a string like upstream (validated as 0-65535).
    pub port: String,
    /// Per project id: which SDK keys to refresh and how to check the signature.
    #[serde(deserialize_with = "project_map")]
    pub projects: BTreeMap<i64, WebhookProjectSettings>,
    /// A signed call whose `timestamp` is further than this from the clock is
    /// refused, and a signature already accepted within it is refused as a replay;
    /// 0 turns both checks off (`replayWindow`; agentctl's own key).
    #[serde(rename = "replaywindow", with = "crate::config::duration")]
    pub replay_window: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            port: "8089".to_owned(),
            projects: BTreeMap::new(),
            replay_window: Duration::from_secs(5 * 60),
        }
    }
}

/// A project id written either as a YAML integer or as a string of digits.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ProjectId(i64);

impl<'de> Deserialize<'de> for ProjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = ProjectId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::config::tree::EXPECTED_PROJECT_ID)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ProjectId, E> {
                Ok(ProjectId(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ProjectId, E> {
                i64::try_from(v)
                    .map(ProjectId)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ProjectId, E> {
                v.trim()
                    .parse()
                    .map(ProjectId)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

fn project_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<i64, WebhookProjectSettings>, D::Error> {
    let map = BTreeMap::<ProjectId, WebhookProjectSettings>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(id, p)| (id.0, p)).collect())
}

/// Webhook settings of one project (`webhook.projects.<id>.*`).
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct WebhookProjectSettings {
    /// SDK keys whose datafiles are refreshed when this project's webhook fires (`sdkKeys`).
    #[serde(rename = "sdkkeys")]
    pub sdk_keys: Vec<String>,
    /// Shared secret for the `X-Hub-Signature` HMAC; secret.
    pub secret: String,
    /// Accept requests without checking the signature (`skipSignatureCheck`).
    #[serde(rename = "skipsignaturecheck")]
    pub skip_signature_check: bool,
}

impl fmt::Debug for WebhookProjectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookProjectSettings")
            .field("sdk_keys", &self.sdk_keys)
            .field("secret", &Secret(&self.secret))
            .field("skip_signature_check", &self.skip_signature_check)
            .finish()
    }
}
