//! The datafile (version 4): validation of the raw serde shapes ([`super::raw`]) and the
//! indexed, immutable [`ProjectConfig`] every decision reads.
//!
//! Parsing is lenient where go-sdk is (unknown fields, absent or `null` lists) and
//! strict where it is not (wrong types, a version other than `"4"`, an integration
//! without a `key`). Nothing here panics on any input.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::condition::{Condition, Tree, parse_condition_tree, parse_ref_tree};
use super::events::{EventContext, EventHeader};
use super::raw::{RawAudience, RawDatafile, RawExperiment, nullable};
use super::variables::{FlagVariables, Variables};
use crate::util::FastMap;

/// Why a datafile was rejected. Display is one line naming where and what.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatafileError {
    /// The bytes are not JSON.
    #[error("datafile is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// `version` is not `"4"`, the only version go-sdk v2.3.1 accepts.
    #[error("unsupported datafile version: {0}")]
    UnsupportedVersion(String),
    /// A field has the wrong shape.
    #[error("invalid datafile at `{path}`: {source}")]
    Invalid {
        /// The JSON path of the offending field, e.g. `experiments[0].trafficAllocation`.
        path: String,
        /// The decoder's message, which includes the line and column.
        #[source]
        source: serde_json::Error,
    },
    /// An entry of `integrations` has no `key`.
    #[error("invalid datafile at `integrations[{0}]`: unsupported key in integrations")]
    IntegrationKey(usize),
}

/// One traffic-allocation range: bucket values below `end_of_range` (and above the
/// previous range) go to `entity_id`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Range {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) entity_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) end_of_range: i64,
}

/// A variation of a rule or holdout.
#[derive(Clone, Debug)]
pub(crate) struct Variation {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) feature_enabled: bool,
    /// Variable id -> value text, in datafile order.
    pub(crate) variables: Vec<(String, String)>,
}

impl Variation {
    /// This variation's value for a variable id.
    pub(crate) fn variable(&self, id: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(vid, _)| vid == id)
            .map(|(_, v)| v.as_str())
    }
}

/// The CMAB part of a rule.
#[derive(Clone, Debug)]
pub(crate) struct CmabSpec {
    pub(crate) attribute_ids: Vec<String>,
    pub(crate) traffic_allocation: i64,
}

/// An experiment, rollout rule or holdout.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) layer_id: String,
    /// The audience-reference tree; `None` means everyone.
    pub(crate) audience: Option<Tree<String>>,
    /// `audienceConditions` as written, for the OptimizelyConfig audiences string.
    pub(crate) audience_conditions: Option<Value>,
    pub(crate) traffic: Vec<Range>,
    pub(crate) forced_variations: BTreeMap<String, String>,
    pub(crate) variations: Vec<Variation>,
    pub(crate) cmab: Option<CmabSpec>,
    /// The group id when the rule sits in a group.
    pub(crate) group_id: Option<String>,
}

impl Rule {
    pub(crate) fn variation_by_id(&self, id: &str) -> Option<&Variation> {
        self.variations.iter().find(|v| v.id == id)
    }

    pub(crate) fn variation_by_key(&self, key: &str) -> Option<&Variation> {
        self.variations.iter().find(|v| v.key == key)
    }
}

/// A mutual-exclusion group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// Only policy `random` buckets by group first.
    pub(crate) random: bool,
    pub(crate) traffic: Vec<Range>,
}

/// A flag variable definition.
#[derive(Clone, Debug)]
pub(crate) struct FlagVariable {
    pub(crate) id: String,
    pub(crate) key: String,
    /// The mapped type: `string|integer|double|boolean|json` (legacy string+json is `json`).
    pub(crate) kind: String,
    pub(crate) default_value: String,
}

/// A feature flag.
#[derive(Clone, Debug)]
pub(crate) struct Flag {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) rollout_id: String,
    pub(crate) experiment_ids: Vec<String>,
    pub(crate) variables: Vec<FlagVariable>,
    /// The typed variables of every variation the flag's rules can serve.
    pub(crate) typed: FlagVariables,
}

impl Flag {
    /// The typed variables the flag serves with `variation` (none or a disabled one:
    /// the defaults).
    pub(crate) fn variables_for(&self, variation: Option<&Variation>) -> Variables {
        self.typed.get(&self.variables, variation)
    }
}

/// A rollout: its rules, the last being "Everyone Else".
#[derive(Clone, Debug)]
pub(crate) struct Rollout {
    pub(crate) id: String,
    pub(crate) rules: Vec<Rule>,
}

/// A running holdout.
#[derive(Clone, Debug)]
pub(crate) struct Holdout {
    pub(crate) rule: Rule,
    /// Empty means global.
    pub(crate) included_flags: Vec<String>,
    pub(crate) excluded_flags: Vec<String>,
}

/// An audience (typed and legacy merged).
#[derive(Clone, Debug)]
pub(crate) struct Audience {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tree: Tree<Condition>,
    /// The legacy string as-is, or the typed conditions serialised.
    pub(crate) conditions_text: String,
}

/// The datafile's ODP integration (`integrations[]` entry with `key: "odp"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OdpIntegration {
    /// The ODP API base URL (`host`), e.g. `https://api.zaius.com`.
    pub host: String,
    /// The ODP public API key (`publicKey`), sent as `x-api-key`.
    pub public_key: String,
}

/// A datafile attribute.
#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub(crate) id: String,
    pub(crate) key: String,
}

/// A conversion event.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) experiment_ids: Vec<String>,
}

/// A parsed, indexed, immutable datafile. Share it as `Arc<ProjectConfig>`.
#[derive(Debug)]
pub struct ProjectConfig {
    pub(crate) raw: Value,
    pub(crate) account_id: String,
    pub(crate) project_id: String,
    pub(crate) revision: String,
    pub(crate) sdk_key: String,
    pub(crate) environment_key: String,
    pub(crate) bot_filtering: bool,
    pub(crate) send_flag_decisions: bool,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) audiences: Vec<Audience>,
    audience_index: FastMap<String, usize>,
    pub(crate) events: Vec<Event>,
    /// Experiments (not rollout rules): top-level first, then group experiments.
    pub(crate) experiments: Vec<Rule>,
    experiment_by_id: FastMap<String, usize>,
    experiment_by_key: FastMap<String, usize>,
    groups: FastMap<String, Group>,
    pub(crate) flags: Vec<Flag>,
    flag_by_key: FastMap<String, usize>,
    pub(crate) rollouts: Vec<Rollout>,
    rollout_by_id: FastMap<String, usize>,
    pub(crate) holdouts: Vec<Holdout>,
    /// Experiment id -> index of the first flag that lists it.
    experiment_flag: FastMap<String, usize>,
    /// The first `odp` integration, if any.
    odp: Option<OdpIntegration>,
    /// Segment names the audiences test with `qualified`, each once, in datafile order.
    odp_segments: Vec<String>,
    /// The batch header of this revision's events, serialised once.
    pub(crate) event_header: EventHeader,
}

fn build_rule(raw: RawExperiment, group_id: Option<String>) -> Rule {
    // `audienceConditions` wins whenever it is present and not null; `[]` means
    // everyone even if `audienceIds` is not empty.
    let audience = match &raw.audience_conditions {
        Some(v) if !v.is_null() => parse_ref_tree(v),
        _ if raw.audience_ids.is_empty() => None,
        _ => Some(Tree::Or(
            raw.audience_ids.iter().cloned().map(Tree::Leaf).collect(),
        )),
    };
    Rule {
        id: raw.id,
        key: raw.key,
        layer_id: raw.layer_id,
        audience,
        audience_conditions: raw.audience_conditions.filter(|v| !v.is_null()),
        traffic: raw.traffic_allocation,
        forced_variations: raw.forced_variations,
        variations: raw
            .variations
            .into_iter()
            .map(|v| Variation {
                id: v.id,
                key: v.key,
                feature_enabled: v.feature_enabled,
                variables: v.variables.into_iter().map(|x| (x.id, x.value)).collect(),
            })
            .collect(),
        cmab: raw.cmab.map(|c| CmabSpec {
            attribute_ids: c.attribute_ids,
            traffic_allocation: c.traffic_allocation,
        }),
        group_id,
    }
}

fn build_audience(raw: RawAudience, legacy: bool) -> Audience {
    // Legacy audiences carry their tree as a JSON string; typed ones as JSON. Accept
    // either form in either list; text that does not parse evaluates to UNKNOWN.
    let (tree_value, text) = match raw.conditions {
        Value::String(s) => (serde_json::from_str(&s).unwrap_or(Value::Null), s),
        other => {
            let text = if legacy && other.is_null() {
                String::new()
            } else {
                other.to_string()
            };
            (other, text)
        }
    };
    Audience {
        id: raw.id,
        name: raw.name,
        tree: parse_condition_tree(&tree_value),
        conditions_text: text,
    }
}

impl ProjectConfig {
    /// Parses datafile bytes.
    ///
    /// # Errors
    ///
    /// Not JSON (with line and column), a `version` other than `"4"`, a field of the
    /// wrong type (with its JSON path, line and column), or an integration without a key.
    pub fn parse(bytes: &[u8]) -> Result<ProjectConfig, DatafileError> {
        let raw_value: Value = serde_json::from_slice(bytes).map_err(DatafileError::Syntax)?;
        match raw_value.get("version") {
            Some(Value::String(v)) if v == "4" => {}
            Some(Value::String(v)) => return Err(DatafileError::UnsupportedVersion(v.clone())),
            Some(other) => return Err(DatafileError::UnsupportedVersion(other.to_string())),
            None => return Err(DatafileError::UnsupportedVersion("(missing)".to_string())),
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawDatafile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            DatafileError::Invalid {
                path,
                source: e.into_inner(),
            }
        })?;
        if let Some(i) = raw.integrations.iter().position(|x| x.key.is_none()) {
            return Err(DatafileError::IntegrationKey(i));
        }
        Ok(Self::build(raw, raw_value))
    }

    fn build(raw: RawDatafile, raw_value: Value) -> ProjectConfig {
        let odp = raw
            .integrations
            .into_iter()
            .find(|i| i.key.as_deref() == Some("odp"))
            .map(|i| OdpIntegration {
                host: i.host,
                public_key: i.public_key,
            });

        // Typed audiences first, then legacy; the first id wins.
        let mut audiences = Vec::new();
        let mut audience_index = FastMap::default();
        let typed = raw
            .typed_audiences
            .into_iter()
            .map(|a| build_audience(a, false));
        let legacy = raw.audiences.into_iter().map(|a| build_audience(a, true));
        for audience in typed.chain(legacy) {
            if !audience_index.contains_key(&audience.id) {
                audience_index.insert(audience.id.clone(), audiences.len());
                audiences.push(audience);
            }
        }
        let mut odp_segments = Vec::new();
        for audience in &audiences {
            audience.tree.for_each_leaf(&mut |c: &Condition| {
                if c.matcher == "qualified"
                    && let Some(segment) = c.value.as_str()
                    && !odp_segments.iter().any(|s| s == segment)
                {
                    odp_segments.push(segment.to_owned());
                }
            });
        }

        let mut experiments: Vec<Rule> = raw
            .experiments
            .into_iter()
            .map(|e| build_rule(e, None))
            .collect();
        let mut groups = FastMap::default();
        for group in raw.groups {
            for e in group.experiments {
                experiments.push(build_rule(e, Some(group.id.clone())));
            }
            groups.entry(group.id).or_insert(Group {
                random: group.policy == "random",
                traffic: group.traffic_allocation,
            });
        }
        let mut experiment_by_id = FastMap::default();
        let mut experiment_by_key = FastMap::default();
        for (i, e) in experiments.iter().enumerate() {
            experiment_by_id.entry(e.id.clone()).or_insert(i);
            experiment_by_key.entry(e.key.clone()).or_insert(i);
        }

        let rollouts: Vec<Rollout> = raw
            .rollouts
            .into_iter()
            .map(|r| Rollout {
                id: r.id,
                rules: r
                    .experiments
                    .into_iter()
                    .map(|e| build_rule(e, None))
                    .collect(),
            })
            .collect();
        let mut rollout_by_id = FastMap::default();
        for (i, r) in rollouts.iter().enumerate() {
            rollout_by_id.entry(r.id.clone()).or_insert(i);
        }

        let holdouts: Vec<Holdout> = raw
            .holdouts
            .into_iter()
            .filter(|h| h.status == "Running")
            .map(|mut h| {
                let included_flags = std::mem::take(&mut h.included_flags);
                let excluded_flags = std::mem::take(&mut h.excluded_flags);
                Holdout {
                    rule: build_rule(h, None),
                    included_flags,
                    excluded_flags,
                }
            })
            .collect();

        let flags: Vec<Flag> = raw
            .feature_flags
            .into_iter()
            .map(|f| {
                let variables: Vec<FlagVariable> = f
                    .variables
                    .into_iter()
                    .map(|v| FlagVariable {
                        id: v.id,
                        key: v.key,
                        kind: if v.kind == "string" && v.sub_type == "json" {
                            "json".to_string()
                        } else {
                            v.kind
                        },
                        default_value: v.default_value,
                    })
                    .collect();
                // Every variation a rule of this flag can serve.
                let experiments = f
                    .experiment_ids
                    .iter()
                    .filter_map(|id| experiment_by_id.get(id).map(|&i| &experiments[i]));
                let rollout = rollout_by_id
                    .get(&f.rollout_id)
                    .into_iter()
                    .flat_map(|&i| &rollouts[i].rules);
                let holdout_rules = holdouts.iter().map(|h| &h.rule);
                let served = experiments
                    .chain(rollout)
                    .chain(holdout_rules)
                    .flat_map(|rule| &rule.variations);
                let typed = FlagVariables::new(&variables, served);
                Flag {
                    id: f.id,
                    key: f.key,
                    rollout_id: f.rollout_id,
                    experiment_ids: f.experiment_ids,
                    variables,
                    typed,
                }
            })
            .collect();
        let mut flag_by_key = FastMap::default();
        let mut experiment_flag = FastMap::default();
        for (i, f) in flags.iter().enumerate() {
            flag_by_key.entry(f.key.clone()).or_insert(i);
            for id in &f.experiment_ids {
                experiment_flag.entry(id.clone()).or_insert(i);
            }
        }

        let region = if raw.region.is_empty() {
            "US".to_string()
        } else {
            raw.region
        };
        let event_header = EventHeader::new(EventContext::new(
            &raw.account_id,
            &raw.project_id,
            &raw.revision,
            raw.anonymize_ip,
            &region,
        ));
        ProjectConfig {
            raw: raw_value,
            account_id: raw.account_id,
            project_id: raw.project_id,
            revision: raw.revision,
            sdk_key: raw.sdk_key,
            environment_key: raw.environment_key,
            bot_filtering: raw.bot_filtering,
            send_flag_decisions: raw.send_flag_decisions,
            attributes: raw
                .attributes
                .into_iter()
                .map(|a| Attribute {
                    id: a.id,
                    key: a.key,
                })
                .collect(),
            audiences,
            audience_index,
            events: raw
                .events
                .into_iter()
                .map(|e| Event {
                    id: e.id,
                    key: e.key,
                    experiment_ids: e.experiment_ids,
                })
                .collect(),
            experiments,
            experiment_by_id,
            experiment_by_key,
            groups,
            flags,
            flag_by_key,
            rollouts,
            rollout_by_id,
            holdouts,
            experiment_flag,
            odp,
            odp_segments,
            event_header,
        }
    }

    /// The datafile revision.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The SDK key the datafile states (`""` when absent).
    pub fn sdk_key(&self) -> &str {
        &self.sdk_key
    }

    /// The environment key the datafile states (`""` when absent).
    pub fn environment_key(&self) -> &str {
        &self.environment_key
    }

    /// The datafile as a generic JSON value; re-encoding it gives sorted keys, as
    /// upstream's `/v1/datafile` does.
    pub fn datafile_json(&self) -> &Value {
        &self.raw
    }

    /// True when the datafile has an `odp` integration.
    pub fn has_odp(&self) -> bool {
        self.odp.is_some()
    }

    /// The datafile's `odp` integration when it names both a host and a public key,
    /// the two things segment fetches and events need (upstream's "integrated").
    pub fn odp_integration(&self) -> Option<&OdpIntegration> {
        self.odp
            .as_ref()
            .filter(|o| !o.host.is_empty() && !o.public_key.is_empty())
    }

    /// The ODP segments the audiences ask about (`match: "qualified"` conditions of
    /// every audience, typed and legacy), each once: what a segment fetch checks.
    pub fn odp_segments(&self) -> &[String] {
        &self.odp_segments
    }

    /// True when some experiment rule has `cmab`.
    pub fn has_cmab(&self) -> bool {
        self.experiments.iter().any(|e| e.cmab.is_some())
    }

    /// Whether an experiment (group experiments included, rollout rules not) has this key.
    pub fn has_experiment(&self, experiment_key: &str) -> bool {
        self.experiment_by_key.contains_key(experiment_key)
    }

    /// Whether that experiment exists and has a variation with this key.
    pub fn has_variation(&self, experiment_key: &str, variation_key: &str) -> bool {
        self.experiment_by_key(experiment_key)
            .is_some_and(|e| e.variation_by_key(variation_key).is_some())
    }

    pub(crate) fn experiment_by_key(&self, key: &str) -> Option<&Rule> {
        self.experiment_by_key
            .get(key)
            .and_then(|&i| self.experiments.get(i))
    }

    pub(crate) fn experiment_by_id(&self, id: &str) -> Option<&Rule> {
        self.experiment_by_id
            .get(id)
            .and_then(|&i| self.experiments.get(i))
    }

    pub(crate) fn flag_by_key(&self, key: &str) -> Option<&Flag> {
        self.flag_by_key.get(key).and_then(|&i| self.flags.get(i))
    }

    pub(crate) fn rollout_by_id(&self, id: &str) -> Option<&Rollout> {
        self.rollout_by_id
            .get(id)
            .and_then(|&i| self.rollouts.get(i))
    }

    pub(crate) fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    pub(crate) fn audience(&self, id: &str) -> Option<&Audience> {
        self.audience_index
            .get(id)
            .and_then(|&i| self.audiences.get(i))
    }

    /// The first flag that lists this experiment.
    pub(crate) fn flag_of_experiment(&self, experiment_id: &str) -> Option<&Flag> {
        self.experiment_flag
            .get(experiment_id)
            .and_then(|&i| self.flags.get(i))
    }

    pub(crate) fn attribute_id(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.id.as_str())
    }

    pub(crate) fn attribute_key(&self, id: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.key.as_str())
    }

    /// The flag's experiment rules, in `experimentIds` order (unknown ids skipped).
    pub(crate) fn experiment_rules<'a>(&'a self, flag: &'a Flag) -> impl Iterator<Item = &'a Rule> {
        flag.experiment_ids
            .iter()
            .filter_map(|id| self.experiment_by_id(id))
    }

    /// The holdouts that apply to a flag: global ones (unless excluded) in datafile
    /// order, then the ones that include it.
    pub(crate) fn holdouts_for<'a>(&'a self, flag: &'a Flag) -> impl Iterator<Item = &'a Rule> {
        let global = self
            .holdouts
            .iter()
            .filter(|h| h.included_flags.is_empty() && !h.excluded_flags.contains(&flag.id));
        let included = self
            .holdouts
            .iter()
            .filter(|h| h.included_flags.contains(&flag.id));
        global.chain(included).map(|h| &h.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");

    #[test]
    fn parses_reference_datafile() {
        let c = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        assert_eq!(c.revision(), "139");
        assert_eq!(c.project_id(), "16931203314");
        assert_eq!(c.account_id(), "10845721364");
        assert_eq!(c.sdk_key(), "KZbunNn9bVfBWLpZPq2XC4");
        assert!(c.has_cmab());
        assert!(!c.has_odp());
        assert!(c.has_experiment("ab_test1"));
        assert!(
            !c.has_experiment("16941022436"),
            "rollout rules are not experiments"
        );
        assert!(c.has_variation("ab_test1", "variation_2"));
        assert!(!c.has_variation("ab_test1", "nope"));
        assert_eq!(c.datafile_json()["revision"], "139");
    }

    #[test]
    fn rejects_other_versions() {
        let err = ProjectConfig::parse(br#"{"version":"3"}"#).unwrap_err();
        assert_eq!(err.to_string(), "unsupported datafile version: 3");
    }

    #[test]
    fn broken_datafile_names_where() {
        let text = "{\"version\": \"4\",\n \"experiments\": [{\"id\": \"1\",\n  \"trafficAllocation\": [{\"entityId\": \"a\", \"endOfRange\": \"x\"}]}]}";
        let err = ProjectConfig::parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid datafile at `experiments[0].trafficAllocation[0].endOfRange`: \
             invalid type: string \"x\", expected i64 at line 3 column 59"
        );
        let err = ProjectConfig::parse(b"{\"version\": \"4\",").unwrap_err();
        assert_eq!(
            err.to_string(),
            "datafile is not valid JSON: EOF while parsing a value at line 1 column 16"
        );
    }

    #[test]
    fn odp_integration_and_segments_come_from_the_datafile() {
        let c =
            ProjectConfig::parse(include_bytes!("testdata/91GuiKYH8ZF1hLLXR7DR1.json")).unwrap();
        let odp = c.odp_integration().unwrap();
        assert_eq!(odp.host, "https://api.zaius.com");
        assert_eq!(odp.public_key, "ax6UV2223fD-jpOXID0BMg");
        assert_eq!(
            c.odp_segments(),
            [
                "atsbugbashsegmentdob",
                "atsbugbashsegmentgender",
                "atsbugbashsegmenthaspurchased"
            ]
        );
        let keyless =
            ProjectConfig::parse(br#"{"version":"4","integrations":[{"key":"odp","host":"h"}]}"#)
                .unwrap();
        assert!(keyless.has_odp());
        assert!(keyless.odp_integration().is_none(), "no public key");
        assert!(keyless.odp_segments().is_empty());
    }

    #[test]
    fn integration_without_key_is_an_error() {
        let err =
            ProjectConfig::parse(br#"{"version":"4","integrations":[{"host":"h"}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid datafile at `integrations[0]`: unsupported key in integrations"
        );
    }

    #[test]
    fn odd_but_valid_shapes_parse() {
        let c = ProjectConfig::parse(
            br#"{"version":"4","experiments":null,"featureFlags":[{"key":"f","variables":null}],
                "integrations":[{"key":"odp"}],"typedAudiences":[{"id":"1","conditions":"not json"}]}"#,
        )
        .unwrap();
        assert!(c.has_odp());
        assert_eq!(c.event_header.context.region, "US");
        assert!(c.flag_by_key("f").is_some());
    }
}
