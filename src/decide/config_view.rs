//! The OptimizelyConfig view served by `GET /v1/config` (go-sdk
//! `NewOptimizelyConfig`): field names and order as upstream, maps sorted, lists in
//! datafile order.

use std::collections::BTreeMap;

use serde::Serialize;

use super::audience::serialize_audiences;
use super::datafile::{Flag, ProjectConfig, Rule};

/// The id upstream leaves out of the audiences list.
const DUMMY_AUDIENCE_ID: &str = "$opt_dummy_audience";

/// The whole project configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyConfig {
    /// The datafile's `environmentKey` (`""` when absent).
    pub environment_key: String,
    /// The datafile's `sdkKey` (`""` when absent).
    pub sdk_key: String,
    /// The datafile revision.
    pub revision: String,
    /// Every experiment (group experiments included, rollout rules not) by key.
    pub experiments_map: BTreeMap<String, OptimizelyExperiment>,
    /// Every flag by key.
    pub features_map: BTreeMap<String, OptimizelyFeature>,
    /// The datafile attributes.
    pub attributes: Vec<OptimizelyAttribute>,
    /// Typed then legacy audiences (first id wins), without the dummy audience.
    pub audiences: Vec<OptimizelyAudience>,
    /// The conversion events.
    pub events: Vec<OptimizelyEvent>,
}

/// An experiment or delivery rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyExperiment {
    /// The rule id.
    pub id: String,
    /// The rule key.
    pub key: String,
    /// `audienceConditions` rendered as text, e.g. `"A" OR ("B" AND "C")`.
    pub audiences: String,
    /// Variations by key.
    pub variations_map: BTreeMap<String, OptimizelyVariation>,
}

/// A variation with its effective variable values.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyVariation {
    /// The variation id.
    pub id: String,
    /// The variation key.
    pub key: String,
    /// Whether the feature is on in this variation.
    pub feature_enabled: bool,
    /// The flag's variables with this variation's values where it is enabled.
    pub variables_map: BTreeMap<String, OptimizelyVariable>,
}

/// A flag.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyFeature {
    /// The flag id.
    pub id: String,
    /// The flag key.
    pub key: String,
    /// Experiment rules in `experimentIds` order.
    pub experiment_rules: Vec<OptimizelyExperiment>,
    /// Delivery rules in rollout order.
    pub delivery_rules: Vec<OptimizelyExperiment>,
    /// Variable defaults by key.
    pub variables_map: BTreeMap<String, OptimizelyVariable>,
    /// Experiment rules by key (deprecated upstream, still sent).
    pub experiments_map: BTreeMap<String, OptimizelyExperiment>,
}

/// A variable value as text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizelyVariable {
    /// The variable id.
    pub id: String,
    /// The variable key.
    pub key: String,
    /// `string|integer|double|boolean|json`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value text.
    pub value: String,
}

/// An attribute.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizelyAttribute {
    /// The attribute id.
    pub id: String,
    /// The attribute key.
    pub key: String,
}

/// An audience.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizelyAudience {
    /// The audience id.
    pub id: String,
    /// The audience name.
    pub name: String,
    /// The legacy condition string as-is, or the typed conditions serialised.
    pub conditions: String,
}

/// A conversion event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyEvent {
    /// The event id.
    pub id: String,
    /// The event key.
    pub key: String,
    /// The experiments the event belongs to.
    pub experiment_ids: Vec<String>,
}

fn default_variables(flag: Option<&Flag>) -> BTreeMap<String, OptimizelyVariable> {
    flag.map(|f| {
        f.variables
            .iter()
            .map(|v| {
                let var = OptimizelyVariable {
                    id: v.id.clone(),
                    key: v.key.clone(),
                    kind: v.kind.clone(),
                    value: v.default_value.clone(),
                };
                (v.key.clone(), var)
            })
            .collect()
    })
    .unwrap_or_default()
}

fn experiment_view(
    config: &ProjectConfig,
    rule: &Rule,
    flag: Option<&Flag>,
) -> OptimizelyExperiment {
    let name_of = |id: &str| {
        config
            .audience(id)
            .map_or_else(|| id.to_string(), |a| a.name.clone())
    };
    let audiences = rule
        .audience_conditions
        .as_ref()
        .map(|c| serialize_audiences(c, &name_of))
        .unwrap_or_default();
    let defaults = default_variables(flag);
    let variations_map = rule
        .variations
        .iter()
        .map(|v| {
            let mut variables_map = defaults.clone();
            if v.feature_enabled {
                for var in variables_map.values_mut() {
                    if let Some(value) = v.variable(&var.id) {
                        var.value = value.to_string();
                    }
                }
            }
            let view = OptimizelyVariation {
                id: v.id.clone(),
                key: v.key.clone(),
                feature_enabled: v.feature_enabled,
                variables_map,
            };
            (v.key.clone(), view)
        })
        .collect();
    OptimizelyExperiment {
        id: rule.id.clone(),
        key: rule.key.clone(),
        audiences,
        variations_map,
    }
}

impl ProjectConfig {
    /// The OptimizelyConfig for `GET /v1/config`.
    pub fn optimizely_config(&self) -> OptimizelyConfig {
        let experiments_map = self
            .experiments
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    experiment_view(self, e, self.flag_of_experiment(&e.id)),
                )
            })
            .collect();
        let features_map = self
            .flags
            .iter()
            .map(|flag| {
                let experiment_rules: Vec<OptimizelyExperiment> = self
                    .experiment_rules(flag)
                    .map(|r| experiment_view(self, r, Some(flag)))
                    .collect();
                let delivery_rules = self
                    .rollout_by_id(&flag.rollout_id)
                    .map(|r| {
                        r.rules
                            .iter()
                            .map(|r| experiment_view(self, r, Some(flag)))
                            .collect()
                    })
                    .unwrap_or_default();
                let experiments_map = experiment_rules
                    .iter()
                    .map(|e| (e.key.clone(), e.clone()))
                    .collect();
                let feature = OptimizelyFeature {
                    id: flag.id.clone(),
                    key: flag.key.clone(),
                    experiment_rules,
                    delivery_rules,
                    variables_map: default_variables(Some(flag)),
                    experiments_map,
                };
                (flag.key.clone(), feature)
            })
            .collect();
        OptimizelyConfig {
            environment_key: self.environment_key.clone(),
            sdk_key: self.sdk_key.clone(),
            revision: self.revision.clone(),
            experiments_map,
            features_map,
            attributes: self
                .attributes
                .iter()
                .map(|a| OptimizelyAttribute {
                    id: a.id.clone(),
                    key: a.key.clone(),
                })
                .collect(),
            audiences: self
                .audiences
                .iter()
                .filter(|a| a.id != DUMMY_AUDIENCE_ID)
                .map(|a| OptimizelyAudience {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    conditions: a.conditions_text.clone(),
                })
                .collect(),
            events: self
                .events
                .iter()
                .map(|e| OptimizelyEvent {
                    id: e.id.clone(),
                    key: e.key.clone(),
                    experiment_ids: e.experiment_ids.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");
    const HOLDOUTS: &str = include_str!("testdata/DU8sE5a6Wh6BD14sV8zAe.json");

    #[test]
    fn reference_datafile_shape() {
        let c = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let v = serde_json::to_value(c.optimizely_config()).unwrap();
        let top: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            top,
            vec![
                "attributes",
                "audiences",
                "environmentKey",
                "events",
                "experimentsMap",
                "featuresMap",
                "revision",
                "sdkKey"
            ]
        );
        assert_eq!(v["environmentKey"], "production");
        assert_eq!(v["sdkKey"], "KZbunNn9bVfBWLpZPq2XC4");
        assert_eq!(v["revision"], "139");
        assert_eq!(
            v["attributes"],
            json!([{"id": "16921322086", "key": "attr_1"}])
        );
        assert_eq!(
            v["audiences"],
            json!([{"id": "16902921321", "name": "Audience1",
                    "conditions": "[\"and\", [\"or\", [\"or\", {\"match\": \"exact\", \"name\": \"attr_1\", \"type\": \"custom_attribute\", \"value\": \"hola\"}]]]"}])
        );
        assert_eq!(
            v["events"],
            json!([{"id": "16911532385", "key": "myevent",
                    "experimentIds": ["16911963060", "9300002877087", "16910084756"]}])
        );
        let exps: Vec<&String> = v["experimentsMap"].as_object().unwrap().keys().collect();
        assert_eq!(exps, vec!["ab_test1", "cmab-rule_1", "feature_2_test"]);
        assert_eq!(
            v["experimentsMap"]["ab_test1"],
            json!({"id": "16911963060", "key": "ab_test1", "audiences": "\"Audience1\"",
                   "variationsMap": {
                       "variation_1": {"id": "16905941566", "key": "variation_1", "featureEnabled": true, "variablesMap": {}},
                       "variation_2": {"id": "16927770169", "key": "variation_2", "featureEnabled": true, "variablesMap": {}}}})
        );
        let f1 = &v["featuresMap"]["feature_1"];
        assert_eq!(f1["experimentRules"], json!([]));
        assert_eq!(f1["experimentsMap"], json!({}));
        assert_eq!(
            f1["variablesMap"]["double_var"],
            json!({"id": "16923002469", "key": "double_var", "type": "double", "value": "5.6"})
        );
        let rules: Vec<&str> = f1["deliveryRules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec!["16941022436", "default-16928980969"]);
        assert_eq!(f1["deliveryRules"][0]["audiences"], "\"Audience1\"");
        assert_eq!(f1["deliveryRules"][1]["audiences"], "");
        assert_eq!(
            f1["deliveryRules"][0]["variationsMap"]["16906801184"]["variablesMap"]["str_var"]["value"],
            "hello"
        );
        let f2 = &v["featuresMap"]["feature_2"];
        assert_eq!(f2["experimentRules"][0]["key"], "feature_2_test");
        assert_eq!(f2["experimentsMap"]["feature_2_test"]["id"], "16910084756");
        assert_eq!(
            serde_json::to_string(&c.optimizely_config()).unwrap()[..40].to_string(),
            r#"{"environmentKey":"production","sdkKey":"#
        );
    }

    #[test]
    fn variables_follow_feature_enabled_and_typed_audiences_serialise() {
        // Give the disabled "off" variation a different value: the default must stay.
        let mut v: Value = serde_json::from_str(KZ).unwrap();
        v["rollouts"][3]["experiments"][1]["variations"][0]["variables"][0]["value"] =
            json!("changed");
        v["rollouts"][3]["experiments"][0]["variations"][0]["variables"][0]["value"] =
            json!("on-value");
        v["featureFlags"][3]["variables"][0]["type"] = json!("string");
        v["featureFlags"][3]["variables"][0]["subType"] = json!("json");
        let c = ProjectConfig::parse(v.to_string().as_bytes()).unwrap();
        let view = serde_json::to_value(c.optimizely_config()).unwrap();
        let rules = &view["featuresMap"]["feature_1"]["deliveryRules"];
        assert_eq!(
            rules[0]["variationsMap"]["16906801184"]["variablesMap"]["str_var"]["value"],
            "on-value"
        );
        assert_eq!(
            rules[1]["variationsMap"]["off"]["variablesMap"]["str_var"]["value"],
            "hello"
        );
        assert_eq!(
            rules[1]["variationsMap"]["off"]["variablesMap"]["str_var"]["type"],
            "json"
        );

        let c = ProjectConfig::parse(HOLDOUTS.as_bytes()).unwrap();
        let view = c.optimizely_config();
        assert_eq!(view.audiences.len(), 4, "the dummy audience is left out");
        assert_eq!(view.audiences[0].name, "ho_3_aud");
        assert_eq!(
            view.audiences[0].conditions,
            r#"["and",["or",["or",{"match":"exact","name":"ho","type":"custom_attribute","value":3}],["or",{"match":"le","name":"all","type":"custom_attribute","value":3}]]]"#
        );
        assert!(view.experiments_map.is_empty());
        assert_eq!(view.features_map["flag1"].delivery_rules[0].audiences, "");
    }
}
