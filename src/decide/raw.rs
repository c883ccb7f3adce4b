//! The datafile's JSON as serde reads it (version 4), before validation and
//! indexing into [`super::datafile::ProjectConfig`]: lenient where go-sdk is
//! (unknown fields, absent or `null` lists).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::datafile::Range;

/// Deserializes `null` as the type's default, as Go does for slices and maps.
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawDatafile {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) account_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) project_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) revision: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) sdk_key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) environment_key: String,
    #[serde(default, rename = "anonymizeIP", deserialize_with = "nullable")]
    pub(super) anonymize_ip: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) bot_filtering: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) send_flag_decisions: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) region: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) attributes: Vec<RawAttribute>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) audiences: Vec<RawAudience>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) typed_audiences: Vec<RawAudience>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) events: Vec<RawEvent>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) experiments: Vec<RawExperiment>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) groups: Vec<RawGroup>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) feature_flags: Vec<RawFlag>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) rollouts: Vec<RawRollout>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) holdouts: Vec<RawHoldout>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) integrations: Vec<RawIntegration>,
}

#[derive(Deserialize)]
pub(super) struct RawAttribute {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
}

#[derive(Deserialize)]
pub(super) struct RawAudience {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) name: String,
    #[serde(default)]
    pub(super) conditions: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEvent {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) experiment_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawVariation {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) feature_enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) variables: Vec<RawVariableValue>,
}

#[derive(Deserialize)]
pub(super) struct RawVariableValue {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawCmab {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) attribute_ids: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) traffic_allocation: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawExperiment {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) layer_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) audience_ids: Vec<String>,
    #[serde(default)]
    pub(super) audience_conditions: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) traffic_allocation: Vec<Range>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) forced_variations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) variations: Vec<RawVariation>,
    #[serde(default)]
    pub(super) cmab: Option<RawCmab>,
    // Holdout-only fields (go-sdk v2.3.1 schema).
    #[serde(default, deserialize_with = "nullable")]
    pub(super) included_flags: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) excluded_flags: Vec<String>,
}

type RawHoldout = RawExperiment;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawGroup {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) policy: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) traffic_allocation: Vec<Range>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) experiments: Vec<RawExperiment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFlag {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) rollout_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) experiment_ids: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) variables: Vec<RawFlagVariable>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFlagVariable {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub(super) kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) sub_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) default_value: String,
}

#[derive(Deserialize)]
pub(super) struct RawRollout {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) experiments: Vec<RawExperiment>,
}

#[derive(Deserialize)]
pub(super) struct RawIntegration {
    #[serde(default)]
    pub(super) key: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) host: String,
    #[serde(default, rename = "publicKey", deserialize_with = "nullable")]
    pub(super) public_key: String,
}
