//! `/v1/activate`: the legacy experiment (Activate / GetVariation) and feature
//! decision paths, their impressions and notifications.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::engine::{
    Engine, FlagResult, ForcedMap, ServiceResult, Source, impression_due, served_variables,
};
use super::events::{Impression, UserEvent, impression_event};
use super::notification::{DecisionMessage, NotificationMessage, user_context};
use super::text::Reasons;
use super::{Context, NeedCmab};

/// A `type` query value other than `experiment` or `feature`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("type \"{0}\" not supported")]
pub struct UnsupportedType(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Experiment,
    Feature,
}

/// The parsed query of one `/v1/activate` request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivateQuery {
    /// The `type` values (each expands to every key of that kind), in the order `type` values came in, so expansion follows it.
    type_order: Vec<Kind>,
    experiment_keys: Vec<String>,
    feature_keys: Vec<String>,
    /// `disableTracking=true`.
    pub disable_tracking: bool,
    /// `enabled=true|false` filter; any other value is no filter.
    pub enabled: Option<bool>,
}

impl ActivateQuery {
    /// Builds the query from the raw (repeatable) query parameters.
    ///
    /// # Errors
    ///
    /// A `type` that is not `experiment` or `feature` (including `type=`).
    pub fn from_params(
        types: &[String],
        experiment_keys: &[String],
        feature_keys: &[String],
        disable_tracking: Option<&str>,
        enabled: Option<&str>,
    ) -> Result<Self, UnsupportedType> {
        let mut query = ActivateQuery {
            experiment_keys: experiment_keys.to_vec(),
            feature_keys: feature_keys.to_vec(),
            disable_tracking: disable_tracking == Some("true"),
            enabled: match enabled {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
            ..ActivateQuery::default()
        };
        for t in types {
            let kind = match t.as_str() {
                "experiment" => Kind::Experiment,
                "feature" => Kind::Feature,
                other => return Err(UnsupportedType(other.to_string())),
            };
            query.type_order.push(kind);
        }
        Ok(query)
    }
}

/// One entry of the `/v1/activate` response array.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivateResult {
    /// The user id.
    pub user_id: String,
    /// The experiment key (features: only for a feature-test or holdout source).
    pub experiment_key: String,
    /// The feature key (`""` for experiments).
    pub feature_key: String,
    /// The variation key (`""` when none).
    pub variation_key: String,
    /// `experiment`, `feature`, or `""` for unknown keys.
    #[serde(rename = "type")]
    pub kind: String,
    /// Typed feature variables; omitted when empty.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
    /// Experiments: a variation was found; features: its `featureEnabled`.
    pub enabled: bool,
    /// `experimentKey not found` / `featureKey not found`; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// What `/v1/activate` produced.
#[derive(Clone, Debug)]
pub struct ActivateOutcome {
    /// The response entries, in request order (types first, then experiment keys,
    /// then feature keys; a key listed twice keeps its first position and takes the
    /// later kind).
    pub results: Vec<ActivateResult>,
    /// Decision notification messages (`ab-test`, `feature-test`, `all-feature-variables`).
    pub notifications: Vec<NotificationMessage>,
    /// Impressions to queue.
    pub events: Vec<UserEvent>,
    /// Whether the user profile was updated (the caller saves it).
    pub profile_changed: bool,
}

fn decision_message(ctx_user: &super::User, kind: &str, info: Value) -> NotificationMessage {
    NotificationMessage::Decision(DecisionMessage {
        kind: kind.to_string(),
        user_context: user_context(ctx_user),
        decision_info: match info {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    })
}

struct Activation<'e, 'a> {
    engine: &'e mut Engine<'a>,
    query: &'e ActivateQuery,
    now_ms: u64,
    notifications: Vec<NotificationMessage>,
    events: Vec<UserEvent>,
}

impl Activation<'_, '_> {
    fn not_found(&self, key: &str, kind: Kind) -> ActivateResult {
        let (experiment_key, feature_key, error) = match kind {
            Kind::Experiment => (key.to_string(), String::new(), "experimentKey not found"),
            Kind::Feature => (String::new(), key.to_string(), "featureKey not found"),
        };
        ActivateResult {
            user_id: self.engine.user.id.clone(),
            experiment_key,
            feature_key,
            variation_key: String::new(),
            kind: String::new(),
            variables: Map::new(),
            enabled: false,
            error: error.to_string(),
        }
    }

    fn experiment(&mut self, key: &str) -> Result<ActivateResult, NeedCmab> {
        let config = self.engine.config;
        let user = self.engine.user;
        let Some(rule) = config.experiment_by_key(key) else {
            return Ok(self.not_found(key, Kind::Experiment));
        };
        // Reasons are not reported on this path.
        let mut reasons = Reasons::new(false);
        let (variation, cmab_uuid) = match self.engine.experiment_services(rule, &mut reasons)? {
            ServiceResult::Hit(v, uuid) => (Some(v), uuid),
            // A CMAB failure is just "no variation" here.
            ServiceResult::Miss | ServiceResult::CmabFailed => (None, None),
        };
        if let Some(v) = variation {
            if !self.query.disable_tracking {
                let imp = Impression {
                    rule: Some(rule),
                    variation: Some(v),
                    flag_key: "",
                    rule_key: &rule.key,
                    rule_type: "experiment",
                    enabled: true,
                    cmab_uuid: cmab_uuid.as_deref(),
                };
                self.events
                    .push(impression_event(config, user, &imp, self.now_ms));
            }
            let kind = if config.flag_of_experiment(&rule.id).is_some() {
                "feature-test"
            } else {
                "ab-test"
            };
            self.notifications.push(decision_message(
                user,
                kind,
                json!({"experimentKey": rule.key, "variationKey": v.key}),
            ));
        }
        let variation_key = variation.map(|v| v.key.clone()).unwrap_or_default();
        Ok(ActivateResult {
            user_id: user.id.clone(),
            experiment_key: key.to_string(),
            feature_key: String::new(),
            enabled: !variation_key.is_empty(),
            variation_key,
            kind: "experiment".to_string(),
            variables: Map::new(),
            error: String::new(),
        })
    }

    fn feature(&mut self, key: &str) -> Result<ActivateResult, NeedCmab> {
        let config = self.engine.config;
        let user = self.engine.user;
        let Some(flag) = config.flag_by_key(key) else {
            return Ok(self.not_found(key, Kind::Feature));
        };
        let mut reasons = Reasons::new(false);
        // No forced decisions on this path; a CMAB failure is "no variation".
        let found = match self
            .engine
            .decide_flag(flag, &ForcedMap::new(), &mut reasons)?
        {
            FlagResult::Found(f) => Some(f),
            FlagResult::NoVariation | FlagResult::CmabFailed(_) => None,
        };
        let variation = found.as_ref().map(|f| f.variation);
        let source = found.as_ref().map(|f| f.source);
        let rule = found.as_ref().and_then(|f| f.rule);
        let enabled = variation.is_some_and(|v| v.feature_enabled);
        let variables = (*served_variables(flag, variation, &mut reasons)).clone();
        // Experiment and variation keys are reported for feature tests and holdouts only.
        let (experiment_key, variation_key) = match (source, rule, variation) {
            (Some(Source::FeatureTest | Source::Holdout), r, Some(v)) => {
                (r.map(|r| r.key.clone()).unwrap_or_default(), v.key.clone())
            }
            _ => (String::new(), String::new()),
        };
        if !self.query.disable_tracking && impression_due(config, source, variation.is_some()) {
            let rule_key = rule.map(|r| r.key.as_str()).unwrap_or_default();
            let imp = Impression {
                rule,
                variation,
                flag_key: key,
                rule_key,
                rule_type: source.unwrap_or(Source::Rollout).as_str(),
                enabled,
                cmab_uuid: found.as_ref().and_then(|f| f.cmab_uuid.as_deref()),
            };
            self.events
                .push(impression_event(config, user, &imp, self.now_ms));
        }
        let source_info = if source == Some(Source::FeatureTest) {
            json!({"experimentKey": experiment_key, "variationKey": variation_key})
        } else {
            json!({})
        };
        self.notifications.push(decision_message(
            user,
            "all-feature-variables",
            json!({"feature": {
                "featureKey": key,
                "featureEnabled": enabled,
                "source": source.map(Source::as_str).unwrap_or_default(),
                "sourceInfo": source_info,
                "variableValues": variables,
            }}),
        ));
        Ok(ActivateResult {
            user_id: user.id.clone(),
            experiment_key,
            feature_key: key.to_string(),
            variation_key,
            kind: "feature".to_string(),
            variables,
            enabled,
            error: String::new(),
        })
    }
}

/// `/v1/activate` for the context's user. The user profile, when present, is read
/// and updated as each experiment is decided (written back when the call succeeds).
///
/// # Errors
///
/// [`NeedCmab`] when a CMAB prediction is missing; nothing has been changed then.
pub fn activate(ctx: &mut Context<'_>, query: &ActivateQuery) -> Result<ActivateOutcome, NeedCmab> {
    let config = ctx.config;
    // Keys in first-seen order with the latest kind.
    let mut keys: Vec<(String, Kind)> = Vec::new();
    let mut put = |key: &str, kind: Kind| match keys.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = kind,
        None => keys.push((key.to_string(), kind)),
    };
    for kind in &query.type_order {
        match kind {
            Kind::Experiment => config
                .experiments
                .iter()
                .for_each(|e| put(&e.key, Kind::Experiment)),
            Kind::Feature => config.flags.iter().for_each(|f| put(&f.key, Kind::Feature)),
        }
    }
    query
        .experiment_keys
        .iter()
        .for_each(|k| put(k, Kind::Experiment));
    query
        .feature_keys
        .iter()
        .for_each(|k| put(k, Kind::Feature));

    let mut engine = Engine::new(ctx, false);
    let mut run = Activation {
        engine: &mut engine,
        query,
        now_ms: ctx.now_ms,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    let mut results = Vec::with_capacity(keys.len());
    for (key, kind) in &keys {
        let result = match kind {
            Kind::Experiment => run.experiment(key)?,
            Kind::Feature => run.feature(key)?,
        };
        if query.enabled.is_some_and(|want| want != result.enabled) {
            continue;
        }
        results.push(result);
    }
    let Activation {
        notifications,
        events,
        ..
    } = run;
    let profile_changed = engine.commit(ctx);
    Ok(ActivateOutcome {
        results,
        notifications,
        events,
        profile_changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{CmabOffline, NoOverrides, ProjectConfig, User, UserProfile};

    const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn run(
        config: &ProjectConfig,
        user: &User,
        profile: Option<&mut UserProfile>,
        query: &ActivateQuery,
    ) -> ActivateOutcome {
        let mut ctx = Context {
            config,
            user,
            overrides: &NoOverrides,
            cmab: &CmabOffline,
            profile,
            now_ms: 5,
            build_events: true,
        };
        activate(&mut ctx, query).unwrap()
    }

    fn matjaz() -> User {
        User {
            id: "matjaz".into(),
            attributes: json!({"attr_1": "hola"}).as_object().cloned(),
            segments: None,
        }
    }

    #[test]
    fn query_parsing() {
        let err =
            ActivateQuery::from_params(&strings(&["experiment", "flag"]), &[], &[], None, None)
                .unwrap_err();
        assert_eq!(err.to_string(), "type \"flag\" not supported");
        let err = ActivateQuery::from_params(&strings(&[""]), &[], &[], None, None).unwrap_err();
        assert_eq!(err.to_string(), "type \"\" not supported");
        let q = ActivateQuery::from_params(&[], &[], &[], Some("True"), Some("yes")).unwrap();
        assert!(!q.disable_tracking);
        assert_eq!(q.enabled, None);
        let q = ActivateQuery::from_params(&[], &[], &[], Some("true"), Some("false")).unwrap();
        assert!(q.disable_tracking);
        assert_eq!(q.enabled, Some(false));
    }

    #[test]
    fn experiment_and_feature_keys() {
        let c = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let u = matjaz();
        let mut profile = UserProfile::new();
        let q = ActivateQuery::from_params(
            &[],
            &strings(&["ab_test1", "nope"]),
            &strings(&["feature_2", "feature_1", "nope_f"]),
            None,
            None,
        )
        .unwrap();
        let out = run(&c, &u, Some(&mut profile), &q);
        assert_eq!(
            serde_json::to_string(&out.results).unwrap(),
            concat!(
                "[",
                r#"{"userId":"matjaz","experimentKey":"ab_test1","featureKey":"","variationKey":"variation_1","type":"experiment","enabled":true},"#,
                r#"{"userId":"matjaz","experimentKey":"nope","featureKey":"","variationKey":"","type":"","enabled":false,"error":"experimentKey not found"},"#,
                r#"{"userId":"matjaz","experimentKey":"feature_2_test","featureKey":"feature_2","variationKey":"variation_1","type":"feature","enabled":true},"#,
                r#"{"userId":"matjaz","experimentKey":"","featureKey":"feature_1","variationKey":"","type":"feature","variables":{"bool_var":true,"double_var":5.6,"int_var":1,"str_var":"hello"},"enabled":true},"#,
                r#"{"userId":"matjaz","experimentKey":"","featureKey":"nope_f","variationKey":"","type":"","enabled":false,"error":"featureKey not found"}"#,
                "]"
            )
        );
        // Both experiments were saved to the profile.
        assert!(out.profile_changed);
        assert_eq!(
            profile,
            UserProfile::from([
                ("16910084756".to_string(), "16925360560".to_string()),
                ("16911963060".to_string(), "16905941566".to_string()),
            ])
        );
        let messages: Vec<String> = out
            .notifications
            .iter()
            .map(|m| serde_json::to_string(m).unwrap())
            .collect();
        let uc = r#""UserContext":{"ID":"matjaz","Attributes":{"attr_1":"hola"},"QualifiedSegments":null}"#;
        assert_eq!(
            messages,
            vec![
                format!(
                    r#"{{"Type":"feature-test",{uc},"DecisionInfo":{{"experimentKey":"ab_test1","variationKey":"variation_1"}}}}"#
                ),
                format!(
                    r#"{{"Type":"all-feature-variables",{uc},"DecisionInfo":{{"feature":{{"featureEnabled":true,"featureKey":"feature_2","source":"feature-test","sourceInfo":{{"experimentKey":"feature_2_test","variationKey":"variation_1"}},"variableValues":{{}}}}}}}}"#
                ),
                format!(
                    r#"{{"Type":"all-feature-variables",{uc},"DecisionInfo":{{"feature":{{"featureEnabled":true,"featureKey":"feature_1","source":"rollout","sourceInfo":{{}},"variableValues":{{"bool_var":true,"double_var":5.6,"int_var":1,"str_var":"hello"}}}}}}}}"#
                ),
            ]
        );
        // Impressions: the experiment (rule type "experiment") and the feature test.
        assert_eq!(out.events.len(), 2);
        let meta =
            out.events[0].visitor_value()["snapshots"][0]["decisions"][0]["metadata"].clone();
        assert_eq!(
            meta,
            json!({"flag_key": "", "rule_key": "ab_test1", "rule_type": "experiment",
                   "variation_key": "variation_1", "enabled": true})
        );
        let meta =
            out.events[1].visitor_value()["snapshots"][0]["decisions"][0]["metadata"].clone();
        assert_eq!(meta["rule_type"], "feature-test");
        assert_eq!(meta["flag_key"], "feature_2");
    }

    #[test]
    fn types_filters_and_tracking() {
        let c = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let u = matjaz();
        let q = ActivateQuery::from_params(&strings(&["experiment"]), &[], &[], Some("true"), None)
            .unwrap();
        let out = run(&c, &u, None, &q);
        let got: Vec<(&str, &str, bool)> = out
            .results
            .iter()
            .map(|r| {
                (
                    r.experiment_key.as_str(),
                    r.variation_key.as_str(),
                    r.enabled,
                )
            })
            .collect();
        // The CMAB failure is just "no variation" here.
        assert_eq!(
            got,
            vec![
                ("feature_2_test", "variation_1", true),
                ("ab_test1", "variation_1", true),
                ("cmab-rule_1", "", false)
            ]
        );
        assert!(out.events.is_empty(), "disableTracking=true queues nothing");
        assert!(!out.profile_changed, "no profile configured");

        let q = ActivateQuery::from_params(&strings(&["feature"]), &[], &[], None, Some("false"))
            .unwrap();
        let out = run(&c, &u, None, &q);
        let keys: Vec<&str> = out.results.iter().map(|r| r.feature_key.as_str()).collect();
        // feature_3's rollout gives "off"; cmab_flag has no variation (CMAB offline).
        assert_eq!(keys, vec!["feature_3", "cmab_flag"]);

        // A key given as both kinds: the later (feature) wins.
        let q = ActivateQuery::from_params(
            &[],
            &strings(&["feature_2"]),
            &strings(&["feature_2"]),
            None,
            None,
        )
        .unwrap();
        let out = run(&c, &u, None, &q);
        assert_eq!(out.results.len(), 1);
        assert_eq!(out.results[0].kind, "feature");
    }

    #[test]
    fn ab_test_notification_type() {
        // An experiment no flag uses is an "ab-test".
        let mut v: Value = serde_json::from_str(KZ).unwrap();
        v["featureFlags"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["key"] != "GkbzTurBWXr8EtNGZj2j6e");
        let c = ProjectConfig::parse(v.to_string().as_bytes()).unwrap();
        let q = ActivateQuery::from_params(&[], &strings(&["ab_test1"]), &[], None, None).unwrap();
        let out = run(&c, &matjaz(), None, &q);
        let NotificationMessage::Decision(m) = &out.notifications[0] else {
            panic!()
        };
        assert_eq!(m.kind, "ab-test");
        // No variation: no notification.
        let outsider = User {
            id: "x".into(),
            attributes: None,
            segments: None,
        };
        let out = run(&c, &outsider, None, &q);
        assert!(out.notifications.is_empty());
        assert_eq!(out.results[0].variation_key, "");
    }
}
