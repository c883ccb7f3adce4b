//! `/v1/activate`: the legacy experiment (Activate / GetVariation) and feature
//! decision paths, their impressions and notifications.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::engine::{
    Engine, FlagResult, ForcedMap, ServiceResult, Source, impression_due, typed_variables,
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
        let mut reasons = Reasons::default();
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
        let mut reasons = Reasons::default();
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
        let variables = typed_variables(flag, variation, &mut reasons);
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
