//! The flag decision: forced decisions, holdouts, experiment rules (overrides,
//! whitelist, CMAB, user profile + bucketing), rollouts with "Everyone Else",
//! typed variables, the `/v1/decide` response object and its notification.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::audience::user_in_audience;
use super::bucket::{bucket_value, find_entity};
use super::datafile::{Flag, ProjectConfig, Range, Rule, Variation};
use super::events::{Impression, UserEvent, impression_event};
use super::notification::{DecisionMessage, NotificationMessage, user_context};
use super::text::{Reasons, go_quote, go_value};
use super::{
    Cmab, CmabAnswer, CmabAttribute, CmabRequest, Context, DecideOptions, ForcedDecision, NeedCmab,
    Overrides, User, UserProfile,
};

/// The attribute that replaces the user id for bucketing.
const BUCKETING_ID_ATTRIBUTE: &str = "$opt_bucketing_id";

/// Where a flag decision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    FeatureTest,
    Rollout,
    Holdout,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::FeatureTest => "feature-test",
            Source::Rollout => "rollout",
            Source::Holdout => "holdout",
        }
    }
}

/// A variation found for a flag.
pub(crate) struct Found<'a> {
    /// `None` for a flag-level forced decision.
    pub(crate) rule: Option<&'a Rule>,
    pub(crate) variation: &'a Variation,
    pub(crate) source: Source,
    pub(crate) cmab_uuid: Option<String>,
}

/// The outcome of deciding one flag.
pub(crate) enum FlagResult<'a> {
    Found(Found<'a>),
    NoVariation,
    /// CMAB failed for this rule key: the whole decision ends in an error.
    CmabFailed(String),
}

/// The outcome of the experiment services for one rule.
pub(crate) enum ServiceResult<'a> {
    Hit(&'a Variation, Option<String>),
    Miss,
    CmabFailed,
}

/// Forced decisions by (flag key, rule key); the last one given wins, as with Go's map.
pub(crate) type ForcedMap = HashMap<(String, Option<String>), String>;

pub(crate) fn forced_map(forced: &[ForcedDecision]) -> ForcedMap {
    forced
        .iter()
        .map(|f| {
            (
                (f.flag_key.clone(), f.rule_key.clone()),
                f.variation_key.clone(),
            )
        })
        .collect()
}

/// One decide/activate call's working state. The user profile is a staged copy that
/// is written back only when the whole call succeeds, so a [`NeedCmab`] retry sees
/// the profile unchanged.
pub(crate) struct Engine<'a> {
    pub(crate) config: &'a ProjectConfig,
    pub(crate) user: &'a User,
    overrides: &'a dyn Overrides,
    cmab: &'a dyn Cmab,
    profile: Option<UserProfile>,
    profile_changed: bool,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(ctx: &Context<'a>, ignore_profile: bool) -> Self {
        let profile = if ignore_profile {
            None
        } else {
            ctx.profile.as_deref().cloned()
        };
        Engine {
            config: ctx.config,
            user: ctx.user,
            overrides: ctx.overrides,
            cmab: ctx.cmab,
            profile,
            profile_changed: false,
        }
    }

    /// Writes the staged profile back; returns whether it changed.
    pub(crate) fn commit(self, ctx: &mut Context<'_>) -> bool {
        if self.profile_changed {
            if let (Some(target), Some(staged)) = (ctx.profile.as_deref_mut(), self.profile) {
                *target = staged;
                return true;
            }
        }
        false
    }

    /// The bucketing id: `$opt_bucketing_id` when it is a string, else the user id.
    fn bucketing_id(&self, rule_key: &str, reasons: &mut Reasons) -> String {
        match self.user.attribute(BUCKETING_ID_ATTRIBUTE) {
            None => self.user.id.clone(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                let error = format!("invalid bucketing ID provided: \"{}\"", go_value(other));
                reasons.info(format!(
                    "Error computing bucketing ID for experiment {}: {}",
                    go_quote(rule_key),
                    go_quote(&error)
                ));
                self.user.id.clone()
            }
        }
    }

    /// Whether a grouped rule's mutual-exclusion group picks it for this user.
    fn group_allows(&self, rule: &Rule, bucketing_id: &str) -> bool {
        let Some(group) = rule.group_id.as_deref().and_then(|g| self.config.group(g)) else {
            return true;
        };
        if !group.random {
            return true;
        }
        let key = format!(
            "{bucketing_id}{}",
            rule.group_id.as_deref().unwrap_or_default()
        );
        find_entity(&group.traffic, bucket_value(&key)) == Some(rule.id.as_str())
    }

    /// Buckets into one of the rule's variations (group step first).
    fn bucket(&self, rule: &'a Rule, bucketing_id: &str) -> Option<&'a Variation> {
        if !self.group_allows(rule, bucketing_id) {
            return None;
        }
        let entity = find_entity(
            &rule.traffic,
            bucket_value(&format!("{bucketing_id}{}", rule.id)),
        )?;
        if entity.is_empty() {
            return None;
        }
        rule.variation_by_id(entity)
    }

    fn audience_check(&self, rule: &Rule, kind: &str, reasons: &mut Reasons) -> bool {
        let ok = user_in_audience(self.config, rule.audience.as_ref(), self.user, reasons);
        reasons.info(format!(
            "Audiences for {kind} {} collectively evaluated to {ok}.",
            rule.key
        ));
        ok
    }

    /// Any variation of any rule of the flag (experiments, then rollout rules).
    fn flag_variation(&self, flag: &'a Flag, key: &str) -> Option<&'a Variation> {
        let config = self.config;
        let rollout_rules = config
            .rollout_by_id(&flag.rollout_id)
            .map(|r| r.rules.iter());
        config
            .experiment_rules(flag)
            .chain(rollout_rules.into_iter().flatten())
            .find_map(|r| r.variation_by_key(key))
    }

    /// A rule-level forced decision, when one is given and valid.
    fn rule_forced(
        &self,
        flag: &'a Flag,
        rule: &'a Rule,
        forced: &ForcedMap,
        reasons: &mut Reasons,
    ) -> Option<&'a Variation> {
        let wanted = forced.get(&(flag.key.clone(), Some(rule.key.clone())))?;
        let user = &self.user.id;
        match self.flag_variation(flag, wanted) {
            Some(v) => {
                reasons.info(format!(
                    "Variation ({wanted}) is mapped to flag ({}), rule ({}) and user ({user}) in the forced decision map.",
                    flag.key, rule.key
                ));
                Some(v)
            }
            None => {
                reasons.info(format!(
                    "Invalid variation is mapped to flag ({}), rule ({}) and user ({user}) in the forced decision map.",
                    flag.key, rule.key
                ));
                None
            }
        }
    }

    fn holdouts(&self, flag: &'a Flag, reasons: &mut Reasons) -> Option<Found<'a>> {
        let user = &self.user.id;
        for holdout in self.config.holdouts_for(flag) {
            if !self.audience_check(holdout, "holdout", reasons) {
                reasons.info(format!(
                    "User {user} does not meet conditions for holdout {}.",
                    holdout.key
                ));
                continue;
            }
            reasons.info(format!(
                "User {user} meets conditions for holdout {}.",
                holdout.key
            ));
            let bucketing_id = self.bucketing_id(&holdout.key, reasons);
            if let Some(variation) = self.bucket(holdout, &bucketing_id) {
                reasons.info(format!(
                    "User {user} is in variation {} of holdout {}.",
                    variation.key, holdout.key
                ));
                return Some(Found {
                    rule: Some(holdout),
                    variation,
                    source: Source::Holdout,
                    cmab_uuid: None,
                });
            }
            reasons.info(format!("User {user} is in no holdout variation."));
        }
        None
    }

    /// The composite experiment service: override, whitelist, then CMAB or
    /// user profile + bucketing.
    pub(crate) fn experiment_services(
        &mut self,
        rule: &'a Rule,
        reasons: &mut Reasons,
    ) -> Result<ServiceResult<'a>, NeedCmab> {
        let user = self.user.id.clone();
        if let Some(key) = self.overrides.variation_for(&rule.key, &user) {
            if let Some(v) = rule.variation_by_key(&key) {
                reasons.info(format!("Override variation {key} found for user {user}"));
                return Ok(ServiceResult::Hit(v, None));
            }
        }
        if let Some(key) = rule.forced_variations.get(&user) {
            if let Some(v) = rule.variation_by_key(key) {
                reasons.info(format!(
                    "User \"{user}\" is whitelisted into variation \"{key}\" of experiment \"{}\".",
                    rule.key
                ));
                return Ok(ServiceResult::Hit(v, None));
            }
        }
        if rule.cmab.is_some() {
            return self.cmab_service(rule, reasons);
        }
        if let Some(stored) = self.profile.as_ref().and_then(|p| p.get(&rule.id)) {
            match rule.variation_by_id(stored) {
                Some(v) => {
                    reasons.info(format!(
                        "User \"{user}\" was previously bucketed into variation \"{}\" of experiment \"{}\".",
                        v.key, rule.key
                    ));
                    return Ok(ServiceResult::Hit(v, None));
                }
                None => reasons.info(format!(
                    "User \"{user}\" was previously bucketed into variation with ID \"{stored}\" for experiment \"{}\", but no matching variation was found.",
                    rule.key
                )),
            }
        }
        if !self.audience_check(rule, "experiment", reasons) {
            reasons.info(format!(
                "User \"{user}\" does not meet conditions to be in experiment \"{}\".",
                rule.key
            ));
            return Ok(ServiceResult::Miss);
        }
        let bucketing_id = self.bucketing_id(&rule.key, reasons);
        let Some(variation) = self.bucket(rule, &bucketing_id) else {
            return Ok(ServiceResult::Miss);
        };
        if let Some(profile) = self.profile.as_mut() {
            profile.insert(rule.id.clone(), variation.id.clone());
            self.profile_changed = true;
        }
        Ok(ServiceResult::Hit(variation, None))
    }

    fn cmab_service(
        &mut self,
        rule: &'a Rule,
        reasons: &mut Reasons,
    ) -> Result<ServiceResult<'a>, NeedCmab> {
        let user = &self.user.id;
        let Some(cmab) = rule.cmab.as_ref() else {
            return Ok(ServiceResult::Miss);
        };
        if !self.audience_check(rule, "experiment", reasons) {
            reasons.info(format!(
                "User {user} not in audience for CMAB experiment {}",
                rule.key
            ));
            return Ok(ServiceResult::Miss);
        }
        let bucketing_id = self.bucketing_id(&rule.key, reasons);
        // The CMAB traffic is one synthetic range ending at the rule's allocation.
        let synthetic = [Range {
            entity_id: "$".to_string(),
            end_of_range: cmab.traffic_allocation,
        }];
        let in_traffic = self.group_allows(rule, &bucketing_id)
            && find_entity(
                &synthetic,
                bucket_value(&format!("{bucketing_id}{}", rule.id)),
            ) == Some("$");
        if !in_traffic {
            reasons.info(format!(
                "User {user} not in CMAB experiment {} due to traffic allocation",
                rule.key
            ));
            return Ok(ServiceResult::Miss);
        }
        let attributes = cmab
            .attribute_ids
            .iter()
            .filter_map(|id| {
                let key = self.config.attribute_key(id)?;
                let value = self.user.attribute(key)?;
                Some(CmabAttribute {
                    id: id.clone(),
                    value_json: value.to_string(),
                })
            })
            .collect();
        let request = CmabRequest {
            rule_id: rule.id.clone(),
            user_id: user.clone(),
            attributes,
        };
        match self.cmab.lookup(&request) {
            None => Err(NeedCmab(request)),
            Some(CmabAnswer::Failed) => Ok(ServiceResult::CmabFailed),
            Some(CmabAnswer::Variation {
                variation_id,
                cmab_uuid,
            }) => {
                match rule.variation_by_id(&variation_id) {
                    Some(v) => {
                        reasons.info(format!(
                            "User bucketed into variation {} by CMAB service",
                            v.key
                        ));
                        Ok(ServiceResult::Hit(v, Some(cmab_uuid)))
                    }
                    // A prediction naming no variation of the rule is a failed fetch.
                    None => Ok(ServiceResult::CmabFailed),
                }
            }
        }
    }

    fn rollout(&self, flag: &'a Flag, forced: &ForcedMap, reasons: &mut Reasons) -> FlagResult<'a> {
        let user = &self.user.id;
        let Some(rollout) = self.config.rollout_by_id(&flag.rollout_id) else {
            reasons.info(format!(
                "Rollout with ID \"{}\" is not in the datafile.",
                flag.rollout_id
            ));
            return FlagResult::NoVariation;
        };
        let Some((everyone_else, targeted)) = rollout.rules.split_last() else {
            return FlagResult::NoVariation;
        };
        let found = |rule, variation| {
            FlagResult::Found(Found {
                rule: Some(rule),
                variation,
                source: Source::Rollout,
                cmab_uuid: None,
            })
        };
        for (index, rule) in targeted.iter().enumerate() {
            if let Some(v) = self.rule_forced(flag, rule, forced, reasons) {
                return found(rule, v);
            }
            // The first pass reports nothing but the failure line below.
            let mut silent = Reasons::default();
            if !user_in_audience(self.config, rule.audience.as_ref(), self.user, &mut silent) {
                reasons.info(format!(
                    "User \"{user}\" does not meet conditions for targeting rule {}.",
                    index + 1
                ));
                continue;
            }
            // The bucketer service evaluates the audience again, with its reason.
            self.audience_check(rule, "experiment", reasons);
            let bucketing_id = self.bucketing_id(&rule.key, reasons);
            if let Some(v) = self.bucket(rule, &bucketing_id) {
                return found(rule, v);
            }
            // Not bucketed: skip the remaining targeted rules.
            break;
        }
        if let Some(v) = self.rule_forced(flag, everyone_else, forced, reasons) {
            return found(everyone_else, v);
        }
        let mut silent = Reasons::default();
        if user_in_audience(
            self.config,
            everyone_else.audience.as_ref(),
            self.user,
            &mut silent,
        ) {
            self.audience_check(everyone_else, "experiment", reasons);
            let bucketing_id = self.bucketing_id(&everyone_else.key, reasons);
            let variation = self.bucket(everyone_else, &bucketing_id);
            reasons.info(format!(
                "User \"{user}\" meets conditions for targeting rule \"Everyone Else\"."
            ));
            if let Some(v) = variation {
                return found(everyone_else, v);
            }
        }
        FlagResult::NoVariation
    }

    /// Decides one flag: flag-level forced decision, holdouts, experiment rules, rollout.
    pub(crate) fn decide_flag(
        &mut self,
        flag: &'a Flag,
        forced: &ForcedMap,
        reasons: &mut Reasons,
    ) -> Result<FlagResult<'a>, NeedCmab> {
        let user = self.user.id.clone();
        if let Some(wanted) = forced.get(&(flag.key.clone(), None)) {
            match self.flag_variation(flag, wanted) {
                Some(variation) => {
                    reasons.info(format!(
                        "Variation ({wanted}) is mapped to flag ({}) and user ({user}) in the forced decision map.",
                        flag.key
                    ));
                    return Ok(FlagResult::Found(Found {
                        rule: None,
                        variation,
                        source: Source::FeatureTest,
                        cmab_uuid: None,
                    }));
                }
                None => reasons.info(format!(
                    "Invalid variation is mapped to flag ({}) and user ({user}) in the forced decision map.",
                    flag.key
                )),
            }
        }
        if let Some(found) = self.holdouts(flag, reasons) {
            return Ok(FlagResult::Found(found));
        }
        let config = self.config;
        for rule in config.experiment_rules(flag) {
            if let Some(variation) = self.rule_forced(flag, rule, forced, reasons) {
                return Ok(FlagResult::Found(Found {
                    rule: Some(rule),
                    variation,
                    source: Source::FeatureTest,
                    cmab_uuid: None,
                }));
            }
            match self.experiment_services(rule, reasons)? {
                ServiceResult::Hit(variation, cmab_uuid) => {
                    return Ok(FlagResult::Found(Found {
                        rule: Some(rule),
                        variation,
                        source: Source::FeatureTest,
                        cmab_uuid,
                    }));
                }
                ServiceResult::Miss => {}
                ServiceResult::CmabFailed => return Ok(FlagResult::CmabFailed(rule.key.clone())),
            }
        }
        Ok(self.rollout(flag, forced, reasons))
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Converts a variable's text by its type; `None` when the text does not fit (the
/// caller then reports the error and uses the type's zero value).
fn typed_value(kind: &str, text: &str) -> (Value, bool) {
    match kind {
        "boolean" => {
            parse_go_bool(text).map_or((Value::Bool(false), false), |b| (Value::Bool(b), true))
        }
        "integer" => text
            .parse::<i64>()
            .map_or((json!(0), false), |i| (json!(i), true)),
        "double" => match text.parse::<f64>() {
            // JSON has no infinities; Go could not encode them either.
            Ok(x) => (
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
                true,
            ),
            Err(_) => (json!(0), false),
        },
        "json" => match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(m) => (Value::Object(m), true),
            Err(_) => (Value::Null, false),
        },
        _ => (Value::String(text.to_string()), true),
    }
}

/// The flag's variables, typed: the variation's value when it is enabled and defines
/// the variable, else the default.
pub(crate) fn typed_variables(
    flag: &Flag,
    variation: Option<&Variation>,
    reasons: &mut Reasons,
) -> Map<String, Value> {
    let mut out = Map::new();
    for var in &flag.variables {
        let text = variation
            .filter(|v| v.feature_enabled)
            .and_then(|v| v.variable(&var.id))
            .unwrap_or(&var.default_value);
        let (value, ok) = typed_value(&var.kind, text);
        if !ok {
            reasons.error(format!(
                "Variable value for key \"{}\" is invalid or wrong type.",
                var.key
            ));
        }
        out.insert(var.key.clone(), value);
    }
    out
}

/// Whether an impression is due for a decision (facts §4.7).
pub(crate) fn impression_due(
    config: &ProjectConfig,
    source: Option<Source>,
    has_variation: bool,
) -> bool {
    if !has_variation || source == Some(Source::Rollout) || source.is_none() {
        return config.send_flag_decisions;
    }
    true
}

/// `userContext` of a decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionUserContext {
    /// The user id.
    pub user_id: String,
    /// The request's attributes (`null` when omitted).
    pub attributes: Option<Map<String, Value>>,
}

/// What the decision notification needs beyond the response object.
#[derive(Clone, Debug)]
struct NotifyInfo {
    experiment_id: String,
    variation_id: String,
    notification_user: super::NotificationUserContext,
    variables: Map<String, Value>,
}

/// One decision; serialises as the `/v1/decide` object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The variation key (`""` when none).
    pub variation_key: String,
    /// The variation's `featureEnabled` (false when none).
    pub enabled: bool,
    /// The rule (or holdout) key; `""` without a variation or for a flag-level forced decision.
    pub rule_key: String,
    /// The flag key as requested.
    pub flag_key: String,
    /// The user, echoed.
    pub user_context: DecisionUserContext,
    /// Reported reasons: errors, then infos when `INCLUDE_REASONS` was given.
    pub reasons: Vec<String>,
    /// Typed variables; omitted when empty.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
    /// Whether the rule is the flag's "Everyone Else" delivery rule.
    pub is_everyone_else_variation: bool,
    #[serde(skip)]
    impression: Option<UserEvent>,
    #[serde(skip)]
    notify: Option<NotifyInfo>,
}

impl Decision {
    fn error(flag_key: &str, user: &User, reasons: Vec<String>) -> Decision {
        Decision {
            variation_key: String::new(),
            enabled: false,
            rule_key: String::new(),
            flag_key: flag_key.to_string(),
            user_context: DecisionUserContext {
                user_id: user.id.clone(),
                attributes: user.attributes.clone(),
            },
            reasons,
            variables: Map::new(),
            is_everyone_else_variation: false,
            impression: None,
            notify: None,
        }
    }

    /// The impression event to queue; `None` when none is due (or already taken).
    pub fn take_impression(&mut self) -> Option<UserEvent> {
        self.impression.take()
    }

    /// The decision notification message (type `flag`); `None` for unknown flags and
    /// error decisions. `dispatched` is whether the caller queued the impression.
    pub fn notification(&self, dispatched: bool) -> Option<NotificationMessage> {
        let info = self.notify.as_ref()?;
        let decision_info = json!({
            "decisionEventDispatched": dispatched,
            "enabled": self.enabled,
            "experimentId": info.experiment_id,
            "flagKey": self.flag_key,
            "reasons": self.reasons,
            "ruleKey": self.rule_key,
            "variables": info.variables,
            "variationId": info.variation_id,
            "variationKey": self.variation_key,
        });
        Some(NotificationMessage::Decision(DecisionMessage {
            kind: "flag".to_string(),
            user_context: info.notification_user.clone(),
            decision_info: match decision_info {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }))
    }
}

/// The result of [`decide`].
#[derive(Debug)]
pub struct DecideOutcome {
    /// The decisions, in key order (datafile order for all flags), filtered per
    /// `ENABLED_FLAGS_ONLY`.
    pub decisions: Vec<Decision>,
    /// Whether the user profile was updated (the caller saves it).
    pub profile_changed: bool,
}

fn is_everyone_else(config: &ProjectConfig, flag: &Flag, rule_key: &str) -> bool {
    !rule_key.is_empty()
        && config.rollout_by_id(&flag.rollout_id).is_some_and(|r| {
            r.rules
                .iter()
                .any(|x| x.key == rule_key && x.key == x.id && x.key.starts_with("default-"))
        })
}

fn decide_one(
    engine: &mut Engine<'_>,
    key: &str,
    forced: &ForcedMap,
    options: &DecideOptions,
    now_ms: u64,
) -> Result<Decision, NeedCmab> {
    let config = engine.config;
    let user = engine.user;
    let Some(flag) = config.flag_by_key(key) else {
        let reason = format!("No flag was found for key {}.", go_quote(key));
        return Ok(Decision::error(key, user, vec![reason]));
    };
    let mut reasons = Reasons::default();
    let found = match engine.decide_flag(flag, forced, &mut reasons)? {
        FlagResult::Found(found) => Some(found),
        FlagResult::NoVariation => None,
        FlagResult::CmabFailed(rule_key) => {
            // Only this error is reported; the rollout is not tried.
            let reason = format!("Failed to fetch CMAB data for experiment {rule_key}.");
            return Ok(Decision::error(key, user, vec![reason]));
        }
    };
    let variation = found.as_ref().map(|f| f.variation);
    let rule = found.as_ref().and_then(|f| f.rule);
    let source = found.as_ref().map(|f| f.source);
    let enabled = variation.is_some_and(|v| v.feature_enabled);
    let rule_key = match (&found, rule) {
        (Some(_), Some(r)) => r.key.clone(),
        _ => String::new(),
    };
    let variables = if options.exclude_variables {
        Map::new()
    } else {
        typed_variables(flag, variation, &mut reasons)
    };
    let impression = (!options.disable_decision_event
        && impression_due(config, source, variation.is_some()))
    .then(|| {
        let imp = Impression {
            rule,
            variation,
            flag_key: key,
            rule_key: &rule_key,
            rule_type: source.unwrap_or(Source::Rollout).as_str(),
            enabled,
            cmab_uuid: found.as_ref().and_then(|f| f.cmab_uuid.as_deref()),
        };
        impression_event(config, user, &imp, now_ms)
    });
    let notify = NotifyInfo {
        experiment_id: rule.map(|r| r.id.clone()).unwrap_or_default(),
        variation_id: variation.map(|v| v.id.clone()).unwrap_or_default(),
        notification_user: user_context(user),
        variables: variables.clone(),
    };
    Ok(Decision {
        variation_key: variation.map(|v| v.key.clone()).unwrap_or_default(),
        enabled,
        is_everyone_else_variation: is_everyone_else(config, flag, &rule_key),
        rule_key,
        flag_key: key.to_string(),
        user_context: DecisionUserContext {
            user_id: user.id.clone(),
            attributes: user.attributes.clone(),
        },
        reasons: reasons.report(options.include_reasons),
        variables,
        impression,
        notify: Some(notify),
    })
}

/// Decides the given flag keys (`None` = every flag, in datafile order) for the
/// context's user.
///
/// `ENABLED_FLAGS_ONLY` applies only when `keys` is `None` or has two or more entries
/// (a single key is answered as a single object and never filtered). Duplicate keys
/// collapse, keeping the first occurrence's position. The user profile is read once,
/// shared by all flags, and written back once at the end.
///
/// # Errors
///
/// [`NeedCmab`] when a CMAB prediction is missing; nothing has been changed then.
pub fn decide(
    ctx: &mut Context<'_>,
    keys: Option<&[String]>,
    forced: &[ForcedDecision],
    options: &DecideOptions,
) -> Result<DecideOutcome, NeedCmab> {
    let mut engine = Engine::new(ctx, options.ignore_user_profile_service);
    let forced = forced_map(forced);
    let config = ctx.config;
    let mut wanted: Vec<&str> = Vec::new();
    match keys {
        None => wanted.extend(config.flags.iter().map(|f| f.key.as_str())),
        Some(keys) => {
            for k in keys {
                if !wanted.contains(&k.as_str()) {
                    wanted.push(k);
                }
            }
        }
    }
    let filter = options.enabled_flags_only && keys.is_none_or(|k| k.len() >= 2);
    let mut decisions = Vec::with_capacity(wanted.len());
    for key in wanted {
        let decision = decide_one(&mut engine, key, &forced, options, ctx.now_ms)?;
        if filter && !decision.enabled {
            continue;
        }
        decisions.push(decision);
    }
    let profile_changed = engine.commit(ctx);
    Ok(DecideOutcome {
        decisions,
        profile_changed,
    })
}
