//! The flag decision: forced decisions, holdouts, experiment rules (overrides,
//! whitelist, CMAB, user profile + bucketing), rollouts with "Everyone Else",
//! typed variables, the `/v1/decide` response object and its notification.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::audience::user_in_audience;
use super::bucket::{bucket_of, find_entity};
use super::datafile::{Flag, ProjectConfig, Range, Rule, Variation};
use super::events::{Impression, UserEvent, impression_event};
use super::notification::{FlagDecisionInfo, FlagMessage, UserContextRef};
use super::text::{Reasons, go_quote, go_value};
use super::variables::Variables;
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
        if self.profile_changed
            && let (Some(target), Some(staged)) = (ctx.profile.as_deref_mut(), self.profile)
        {
            *target = staged;
            return true;
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
                reasons.info(format_args!(
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
        let group_id = rule.group_id.as_deref().unwrap_or_default();
        find_entity(&group.traffic, bucket_of(bucketing_id, group_id)) == Some(rule.id.as_str())
    }

    /// Buckets into one of the rule's variations (group step first).
    fn bucket(&self, rule: &'a Rule, bucketing_id: &str) -> Option<&'a Variation> {
        if !self.group_allows(rule, bucketing_id) {
            return None;
        }
        let entity = find_entity(&rule.traffic, bucket_of(bucketing_id, &rule.id))?;
        if entity.is_empty() {
            return None;
        }
        rule.variation_by_id(entity)
    }

    fn audience_check(&self, rule: &Rule, kind: &str, reasons: &mut Reasons) -> bool {
        let ok = user_in_audience(self.config, rule.audience.as_ref(), self.user, reasons);
        reasons.info(format_args!(
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
                reasons.info(format_args!(
                    "Variation ({wanted}) is mapped to flag ({}), rule ({}) and user ({user}) in the forced decision map.",
                    flag.key, rule.key
                ));
                Some(v)
            }
            None => {
                reasons.info(format_args!(
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
                reasons.info(format_args!(
                    "User {user} does not meet conditions for holdout {}.",
                    holdout.key
                ));
                continue;
            }
            reasons.info(format_args!(
                "User {user} meets conditions for holdout {}.",
                holdout.key
            ));
            let bucketing_id = self.bucketing_id(&holdout.key, reasons);
            if let Some(variation) = self.bucket(holdout, &bucketing_id) {
                reasons.info(format_args!(
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
            reasons.info(format_args!("User {user} is in no holdout variation."));
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
        // An override or whitelist entry naming no variation of the rule is ignored.
        if let Some(key) = self.overrides.variation_for(&rule.key, &user)
            && let Some(v) = rule.variation_by_key(&key)
        {
            reasons.info(format_args!(
                "Override variation {key} found for user {user}"
            ));
            return Ok(ServiceResult::Hit(v, None));
        }
        if let Some(key) = rule.forced_variations.get(&user)
            && let Some(v) = rule.variation_by_key(key)
        {
            reasons.info(format_args!(
                "User \"{user}\" is whitelisted into variation \"{key}\" of experiment \"{}\".",
                rule.key
            ));
            return Ok(ServiceResult::Hit(v, None));
        }
        if rule.cmab.is_some() {
            return self.cmab_service(rule, reasons);
        }
        if let Some(stored) = self.profile.as_ref().and_then(|p| p.get(&rule.id)) {
            match rule.variation_by_id(stored) {
                Some(v) => {
                    reasons.info(format_args!(
                        "User \"{user}\" was previously bucketed into variation \"{}\" of experiment \"{}\".",
                        v.key, rule.key
                    ));
                    return Ok(ServiceResult::Hit(v, None));
                }
                None => reasons.info(format_args!(
                    "User \"{user}\" was previously bucketed into variation with ID \"{stored}\" for experiment \"{}\", but no matching variation was found.",
                    rule.key
                )),
            }
        }
        if !self.audience_check(rule, "experiment", reasons) {
            reasons.info(format_args!(
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
            reasons.info(format_args!(
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
            && find_entity(&synthetic, bucket_of(&bucketing_id, &rule.id)) == Some("$");
        if !in_traffic {
            reasons.info(format_args!(
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
                        reasons.info(format_args!(
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
            reasons.info(format_args!(
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
            let mut silent = Reasons::new(false);
            if !user_in_audience(self.config, rule.audience.as_ref(), self.user, &mut silent) {
                reasons.info(format_args!(
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
        let mut silent = Reasons::new(false);
        if user_in_audience(
            self.config,
            everyone_else.audience.as_ref(),
            self.user,
            &mut silent,
        ) {
            self.audience_check(everyone_else, "experiment", reasons);
            let bucketing_id = self.bucketing_id(&everyone_else.key, reasons);
            let variation = self.bucket(everyone_else, &bucketing_id);
            reasons.info(format_args!(
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
                    reasons.info(format_args!(
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
                None => reasons.info(format_args!(
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

/// The flag's typed variables served with `variation`; invalid values are
/// reported as error reasons.
pub(crate) fn served_variables(
    flag: &Flag,
    variation: Option<&Variation>,
    reasons: &mut Reasons,
) -> Variables {
    let variables = flag.variables_for(variation);
    for error in variables.errors() {
        reasons.error(error.clone());
    }
    variables
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
    /// The fetched ODP segments, for the notification only (not in the response).
    #[serde(skip)]
    pub segments: Option<Vec<String>>,
}

/// What the decision notification needs beyond the response object.
#[derive(Clone, Debug)]
struct NotifyInfo {
    experiment_id: String,
    variation_id: String,
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
    #[serde(skip_serializing_if = "Variables::is_empty")]
    pub variables: Variables,
    /// Whether the rule is the flag's "Everyone Else" delivery rule.
    pub is_everyone_else_variation: bool,
    #[serde(skip)]
    impression: Option<UserEvent>,
    #[serde(skip)]
    impression_due: bool,
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
                segments: user.segments.clone(),
            },
            reasons,
            variables: Variables::none(),
            is_everyone_else_variation: false,
            impression: None,
            impression_due: false,
            notify: None,
        }
    }

    /// The impression event to queue; `None` when none is due (or already taken, or
    /// the context asked not to build events).
    pub fn take_impression(&mut self) -> Option<UserEvent> {
        self.impression.take()
    }

    /// Whether an impression was due for this decision (built or not).
    pub fn impression_due(&self) -> bool {
        self.impression_due
    }

    /// The decision notification message (type `flag`); `None` for unknown flags and
    /// error decisions. `dispatched` is whether the caller queued the impression.
    pub fn notification(&self, dispatched: bool) -> Option<FlagMessage<'_>> {
        let info = self.notify.as_ref()?;
        Some(FlagMessage {
            kind: "flag",
            user_context: UserContextRef {
                id: &self.user_context.user_id,
                attributes: self.user_context.attributes.as_ref(),
                qualified_segments: self.user_context.segments.as_deref(),
            },
            decision_info: FlagDecisionInfo {
                decision_event_dispatched: dispatched,
                enabled: self.enabled,
                experiment_id: &info.experiment_id,
                flag_key: &self.flag_key,
                reasons: &self.reasons,
                rule_key: &self.rule_key,
                variables: &self.variables,
                variation_id: &info.variation_id,
                variation_key: &self.variation_key,
            },
        })
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
    build_events: bool,
) -> Result<Decision, NeedCmab> {
    let config = engine.config;
    let user = engine.user;
    let Some(flag) = config.flag_by_key(key) else {
        let reason = format!("No flag was found for key {}.", go_quote(key));
        return Ok(Decision::error(key, user, vec![reason]));
    };
    let mut reasons = Reasons::new(options.include_reasons);
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
        Variables::none()
    } else {
        served_variables(flag, variation, &mut reasons)
    };
    let due =
        !options.disable_decision_event && impression_due(config, source, variation.is_some());
    let impression = (due && build_events).then(|| {
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
            segments: user.segments.clone(),
        },
        reasons: reasons.report(),
        variables,
        impression,
        impression_due: due,
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
    let wanted: Vec<&str> = match keys {
        None => config.flags.iter().map(|f| f.key.as_str()).collect(),
        Some(keys) => {
            let mut seen = std::collections::HashSet::new();
            keys.iter()
                .map(String::as_str)
                .filter(|k| seen.insert(*k))
                .collect()
        }
    };
    let filter = options.enabled_flags_only && keys.is_none_or(|k| k.len() >= 2);
    let mut decisions = Vec::with_capacity(wanted.len());
    for key in wanted {
        let decision = decide_one(
            &mut engine,
            key,
            &forced,
            options,
            ctx.now_ms,
            ctx.build_events,
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{CmabOffline, NoOverrides};
    use serde_json::json;

    const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");
    const ODP: &str = include_str!("testdata/91GuiKYH8ZF1hLLXR7DR1.json");
    const HOLDOUTS: &str = include_str!("testdata/DU8sE5a6Wh6BD14sV8zAe.json");

    /// Overrides from a fixed list of (experiment key, user id, variation key).
    struct ListOverrides(Vec<(&'static str, &'static str, &'static str)>);
    impl Overrides for ListOverrides {
        fn variation_for(&self, experiment_key: &str, user_id: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(e, u, _)| *e == experiment_key && *u == user_id)
                .map(|(_, _, v)| v.to_string())
        }
    }

    /// A CMAB source that always gives the same answer (or none).
    struct FixedCmab(Option<CmabAnswer>);
    impl Cmab for FixedCmab {
        fn lookup(&self, _request: &CmabRequest) -> Option<CmabAnswer> {
            self.0.clone()
        }
    }

    fn config(text: &str) -> ProjectConfig {
        ProjectConfig::parse(text.as_bytes()).unwrap()
    }

    fn user(id: &str, attrs: Value) -> User {
        User {
            id: id.into(),
            attributes: attrs.as_object().cloned(),
            segments: None,
        }
    }

    fn reasons_opt() -> DecideOptions {
        DecideOptions {
            include_reasons: true,
            ..DecideOptions::default()
        }
    }

    /// Runs decide with the given pieces and returns the outcome.
    fn run(
        config: &ProjectConfig,
        user: &User,
        profile: Option<&mut UserProfile>,
        keys: Option<&[&str]>,
        forced: &[ForcedDecision],
        options: DecideOptions,
    ) -> DecideOutcome {
        let keys: Option<Vec<String>> = keys.map(|k| k.iter().map(|s| s.to_string()).collect());
        let mut ctx = Context {
            config,
            user,
            overrides: &NoOverrides,
            cmab: &CmabOffline,
            profile,
            now_ms: 42,
            build_events: true,
        };
        decide(&mut ctx, keys.as_deref(), forced, &options).unwrap()
    }

    fn one(config: &ProjectConfig, user: &User, key: &str, options: DecideOptions) -> Decision {
        let mut out = run(config, user, None, Some(&[key]), &[], options);
        assert_eq!(out.decisions.len(), 1);
        out.decisions.remove(0)
    }

    #[test]
    fn feature_2_without_profile() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let mut d = one(&c, &u, "feature_2", reasons_opt());
        assert_eq!(d.variation_key, "variation_1");
        assert_eq!(d.rule_key, "feature_2_test");
        assert!(d.enabled);
        assert_eq!(
            d.reasons,
            vec!["Audiences for experiment feature_2_test collectively evaluated to true."]
        );
        let imp = d.take_impression().expect("feature tests send impressions");
        assert!(d.take_impression().is_none());
        let decision = imp.visitor_value()["snapshots"][0]["decisions"][0].clone();
        assert_eq!(decision["campaign_id"], "16933431472");
        assert_eq!(decision["experiment_id"], "16910084756");
        assert_eq!(decision["variation_id"], "16925360560");
        assert_eq!(
            decision["metadata"],
            json!({"flag_key": "feature_2", "rule_key": "feature_2_test",
                   "rule_type": "feature-test", "variation_key": "variation_1", "enabled": true})
        );
        let event = imp.visitor_value()["snapshots"][0]["events"][0].clone();
        assert_eq!(event["key"], "campaign_activated");
        assert_eq!(event["entity_id"], "16933431472");
        assert_eq!(event["timestamp"], 42);
        assert_eq!(
            imp.visitor_value()["attributes"],
            json!([{"entity_id": "16921322086", "key": "attr_1", "type": "custom", "value": "hola"},
                   {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering",
                    "type": "custom", "value": false}])
        );
        // Without INCLUDE_REASONS the info reasons are not reported.
        let d = one(&c, &u, "feature_2", DecideOptions::default());
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn profile_is_read_and_written_once() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let mut profile = UserProfile::new();
        let out = run(
            &c,
            &u,
            Some(&mut profile),
            Some(&["feature_2", "GkbzTurBWXr8EtNGZj2j6e"]),
            &[],
            reasons_opt(),
        );
        assert!(out.profile_changed);
        assert_eq!(
            profile,
            UserProfile::from([
                ("16910084756".to_string(), "16925360560".to_string()),
                ("16911963060".to_string(), "16905941566".to_string()),
            ])
        );
        // The next call finds both in the profile.
        let out = run(
            &c,
            &u,
            Some(&mut profile),
            Some(&["feature_2", "GkbzTurBWXr8EtNGZj2j6e"]),
            &[],
            reasons_opt(),
        );
        assert!(!out.profile_changed);
        assert_eq!(
            out.decisions[0].reasons,
            vec![
                "User \"matjaz\" was previously bucketed into variation \"variation_1\" of experiment \"feature_2_test\"."
            ]
        );
        assert_eq!(
            out.decisions[1].reasons,
            vec![
                "User \"matjaz\" was previously bucketed into variation \"variation_1\" of experiment \"ab_test1\"."
            ]
        );
        // A stored variation wins over audiences and bucketing...
        let stranger = user("matjaz", json!({}));
        profile.insert("16910084756".into(), "16915611472".into());
        let out = run(
            &c,
            &stranger,
            Some(&mut profile),
            Some(&["feature_2"]),
            &[],
            reasons_opt(),
        );
        assert_eq!(out.decisions[0].variation_key, "variation_2");
        // ...an unknown stored id is reported and ignored, and IGNORE_USER_PROFILE_SERVICE skips it.
        profile.insert("16910084756".into(), "999".into());
        let out = run(
            &c,
            &u,
            Some(&mut profile),
            Some(&["feature_2"]),
            &[],
            reasons_opt(),
        );
        assert_eq!(
            out.decisions[0].reasons,
            vec![
                "User \"matjaz\" was previously bucketed into variation with ID \"999\" for experiment \"feature_2_test\", but no matching variation was found.",
                "Audiences for experiment feature_2_test collectively evaluated to true."
            ]
        );
        assert!(out.profile_changed);
        assert_eq!(profile["16910084756"], "16925360560");
        profile.insert("16910084756".into(), "16915611472".into());
        let ignore = DecideOptions {
            ignore_user_profile_service: true,
            ..reasons_opt()
        };
        let out = run(
            &c,
            &u,
            Some(&mut profile),
            Some(&["feature_2"]),
            &[],
            ignore,
        );
        assert_eq!(out.decisions[0].variation_key, "variation_1");
        assert!(!out.profile_changed);
        assert_eq!(profile["16910084756"], "16915611472");
    }

    #[test]
    fn rollout_targeted_rule_with_variables_and_notification() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let mut d = one(&c, &u, "feature_1", reasons_opt());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            concat!(
                r#"{"variationKey":"16906801184","enabled":true,"ruleKey":"16941022436","flagKey":"feature_1","#,
                r#""userContext":{"userId":"matjaz","attributes":{"attr_1":"hola"}},"#,
                r#""reasons":["Audiences for experiment 16941022436 collectively evaluated to true."],"#,
                r#""variables":{"bool_var":true,"double_var":5.6,"int_var":1,"str_var":"hello"},"#,
                r#""isEveryoneElseVariation":false}"#
            )
        );
        // Rollouts send no impression unless sendFlagDecisions.
        assert!(d.take_impression().is_none());
        assert_eq!(
            serde_json::to_string(&d.notification(false).unwrap()).unwrap(),
            concat!(
                r#"{"Type":"flag","UserContext":{"ID":"matjaz","Attributes":{"attr_1":"hola"},"QualifiedSegments":null},"#,
                r#""DecisionInfo":{"decisionEventDispatched":false,"enabled":true,"experimentId":"16941022436","#,
                r#""flagKey":"feature_1","reasons":["Audiences for experiment 16941022436 collectively evaluated to true."],"#,
                r#""ruleKey":"16941022436","variables":{"bool_var":true,"double_var":5.6,"int_var":1,"str_var":"hello"},"#,
                r#""variationId":"16906801184","variationKey":"16906801184"}}"#
            )
        );
        // Outside the audience: targeting rule 1 fails, Everyone Else gives "off" with defaults.
        let outsider = user("matjaz", json!({"attr_1": "adios"}));
        let d = one(&c, &outsider, "feature_1", reasons_opt());
        assert_eq!(d.variation_key, "off");
        assert!(!d.enabled);
        assert!(d.is_everyone_else_variation);
        assert_eq!(
            d.reasons,
            vec![
                "User \"matjaz\" does not meet conditions for targeting rule 1.",
                "Audiences for experiment default-16928980969 collectively evaluated to true.",
                "User \"matjaz\" meets conditions for targeting rule \"Everyone Else\"."
            ]
        );
        assert_eq!(d.variables["str_var"], "hello");
        // EXCLUDE_VARIABLES omits the field and gives {} in the notification.
        let d = one(
            &c,
            &u,
            "feature_1",
            DecideOptions {
                exclude_variables: true,
                ..DecideOptions::default()
            },
        );
        assert!(!serde_json::to_string(&d).unwrap().contains("variables"));
        let m = d.notification(true).unwrap();
        assert_eq!(
            serde_json::to_value(&m.decision_info).unwrap()["variables"],
            json!({})
        );
        assert_eq!(
            serde_json::to_value(&m.decision_info).unwrap()["decisionEventDispatched"],
            true
        );
        assert_eq!(
            serde_json::to_value(&m.decision_info).unwrap()["reasons"],
            json!([])
        );
    }

    #[test]
    fn everyone_else_rules() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        for (flag, rule, variation) in [
            ("feature_4", "default-16943340293", "16925940659"),
            ("feature_5", "default-16917103311", "16927890136"),
        ] {
            let d = one(&c, &u, flag, reasons_opt());
            assert_eq!(d.rule_key, rule);
            assert_eq!(d.variation_key, variation);
            assert!(d.enabled);
            assert!(d.is_everyone_else_variation);
            assert_eq!(
                d.reasons,
                vec![
                    format!("Audiences for experiment {rule} collectively evaluated to true."),
                    "User \"matjaz\" meets conditions for targeting rule \"Everyone Else\"."
                        .to_string()
                ]
            );
        }
    }

    #[test]
    fn invalid_flag_key() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let only = DecideOptions {
            enabled_flags_only: true,
            ..DecideOptions::default()
        };
        let mut d = one(&c, &u, "invalid_flag_key", only);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            concat!(
                r#"{"variationKey":"","enabled":false,"ruleKey":"","flagKey":"invalid_flag_key","#,
                r#""userContext":{"userId":"matjaz","attributes":{"attr_1":"hola"}},"#,
                r#""reasons":["No flag was found for key \"invalid_flag_key\"."],"isEveryoneElseVariation":false}"#
            )
        );
        assert!(d.notification(false).is_none());
        assert!(d.take_impression().is_none());
        // With two keys the filter applies and the error decision is dropped.
        let out = run(
            &c,
            &u,
            None,
            Some(&["invalid_flag_key", "feature_4", "feature_4"]),
            &[],
            only,
        );
        let keys: Vec<&str> = out.decisions.iter().map(|d| d.flag_key.as_str()).collect();
        assert_eq!(keys, vec!["feature_4"]);
        // Omitted attributes echo as null.
        let anon = User {
            id: "x".into(),
            attributes: None,
            segments: None,
        };
        let d = one(&c, &anon, "nope", DecideOptions::default());
        assert!(
            serde_json::to_string(&d)
                .unwrap()
                .contains(r#""userContext":{"userId":"x","attributes":null}"#)
        );
    }

    #[test]
    fn forced_decisions() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let flag_level = ForcedDecision {
            flag_key: "feature_2".into(),
            rule_key: None,
            variation_key: "variation_1".into(),
        };
        let out = run(
            &c,
            &u,
            None,
            Some(&["feature_2"]),
            &[flag_level],
            reasons_opt(),
        );
        let d = &out.decisions[0];
        assert_eq!(d.variation_key, "variation_1");
        assert_eq!(d.rule_key, "");
        assert_eq!(
            d.reasons,
            vec![
                "Variation (variation_1) is mapped to flag (feature_2) and user (matjaz) in the forced decision map."
            ]
        );
        let rule_level = ForcedDecision {
            flag_key: "feature_2".into(),
            rule_key: Some("feature_2_test".into()),
            variation_key: "variation_2".into(),
        };
        let mut out = run(
            &c,
            &u,
            None,
            Some(&["feature_2"]),
            &[rule_level],
            reasons_opt(),
        );
        let d = &mut out.decisions[0];
        assert_eq!(d.variation_key, "variation_2");
        assert_eq!(d.rule_key, "feature_2_test");
        assert_eq!(
            d.reasons,
            vec![
                "Variation (variation_2) is mapped to flag (feature_2), rule (feature_2_test) and user (matjaz) in the forced decision map."
            ]
        );
        assert!(d.take_impression().is_some());
        // An unknown variation is reported, then the normal path runs.
        let bad = ForcedDecision {
            flag_key: "feature_2".into(),
            rule_key: None,
            variation_key: "nope".into(),
        };
        let out = run(&c, &u, None, Some(&["feature_2"]), &[bad], reasons_opt());
        assert_eq!(
            out.decisions[0].reasons,
            vec![
                "Invalid variation is mapped to flag (feature_2) and user (matjaz) in the forced decision map.",
                "Audiences for experiment feature_2_test collectively evaluated to true."
            ]
        );
        // A rule-level forced decision on a delivery rule may use any variation of the flag.
        let rollout_rule = ForcedDecision {
            flag_key: "feature_1".into(),
            rule_key: Some("16941022436".into()),
            variation_key: "off".into(),
        };
        let out = run(
            &c,
            &u,
            None,
            Some(&["feature_1"]),
            &[rollout_rule],
            reasons_opt(),
        );
        assert_eq!(out.decisions[0].variation_key, "off");
        assert_eq!(out.decisions[0].rule_key, "16941022436");
    }

    #[test]
    fn overrides_and_whitelist() {
        let c = config(KZ);
        let u = user("matjaz", json!({}));
        let overrides = ListOverrides(vec![
            ("feature_2_test", "matjaz", "variation_2"),
            ("ab_test1", "matjaz", "nope"),
        ]);
        let mut ctx = Context {
            config: &c,
            user: &u,
            overrides: &overrides,
            cmab: &CmabOffline,
            profile: None,
            now_ms: 0,
            build_events: true,
        };
        let keys = vec![
            "feature_2".to_string(),
            "GkbzTurBWXr8EtNGZj2j6e".to_string(),
        ];
        let out = decide(&mut ctx, Some(&keys), &[], &reasons_opt()).unwrap();
        assert_eq!(out.decisions[0].variation_key, "variation_2");
        assert_eq!(
            out.decisions[0].reasons,
            vec!["Override variation variation_2 found for user matjaz"]
        );
        // The unknown override is ignored; the user then fails the audience.
        assert_eq!(
            out.decisions[1].rule_key,
            "default-rollout-147680-16935023792"
        );

        let whitelisted = KZ.replacen(
            r#""forcedVariations": {}"#,
            r#""forcedVariations": {"matjaz": "variation_2"}"#,
            1,
        );
        let c = config(&whitelisted);
        let d = one(&c, &u, "feature_2", reasons_opt());
        assert_eq!(d.variation_key, "variation_2");
        assert_eq!(
            d.reasons,
            vec![
                "User \"matjaz\" is whitelisted into variation \"variation_2\" of experiment \"feature_2_test\"."
            ]
        );
    }

    #[test]
    fn decide_all_enabled_only_with_failed_cmab() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let only = DecideOptions {
            enabled_flags_only: true,
            ..DecideOptions::default()
        };
        let out = run(&c, &u, None, None, &[], only);
        let keys: Vec<&str> = out.decisions.iter().map(|d| d.flag_key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "feature_4",
                "feature_5",
                "feature_1",
                "feature_2",
                "GkbzTurBWXr8EtNGZj2j6e"
            ]
        );
        // Without the filter every flag is there, and cmab_flag is the CMAB error decision.
        let mut out = run(&c, &u, None, None, &[], DecideOptions::default());
        assert_eq!(out.decisions.len(), 7);
        assert_eq!(out.decisions[0].variation_key, "off");
        let cmab = out.decisions.last_mut().unwrap();
        assert_eq!(
            serde_json::to_string(&cmab).unwrap(),
            concat!(
                r#"{"variationKey":"","enabled":false,"ruleKey":"","flagKey":"cmab_flag","#,
                r#""userContext":{"userId":"matjaz","attributes":{"attr_1":"hola"}},"#,
                r#""reasons":["Failed to fetch CMAB data for experiment cmab-rule_1."],"isEveryoneElseVariation":false}"#
            )
        );
        assert!(cmab.notification(false).is_none());
        assert!(cmab.take_impression().is_none());
    }

    #[test]
    fn cmab_needs_an_answer_and_uses_it() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola", "other": 1}));
        let mut profile = UserProfile::new();
        let keys = vec!["feature_2".to_string(), "cmab_flag".to_string()];
        let missing = FixedCmab(None);
        let mut ctx = Context {
            config: &c,
            user: &u,
            overrides: &NoOverrides,
            cmab: &missing,
            profile: Some(&mut profile),
            now_ms: 7,
            build_events: true,
        };
        let NeedCmab(request) = decide(&mut ctx, Some(&keys), &[], &reasons_opt()).unwrap_err();
        assert_eq!(
            request,
            CmabRequest {
                rule_id: "9300002877087".into(),
                user_id: "matjaz".into(),
                attributes: vec![CmabAttribute {
                    id: "16921322086".into(),
                    value_json: "\"hola\"".into()
                }],
            }
        );
        assert_eq!(request.attributes[0].value(), json!("hola"));
        assert!(
            profile.is_empty(),
            "nothing is saved when an answer is missing"
        );

        let answer = FixedCmab(Some(CmabAnswer::Variation {
            variation_id: "1579278".into(),
            cmab_uuid: "uuid-1".into(),
        }));
        let mut ctx = Context {
            config: &c,
            user: &u,
            overrides: &NoOverrides,
            cmab: &answer,
            profile: Some(&mut profile),
            now_ms: 7,
            build_events: true,
        };
        let mut out = decide(&mut ctx, Some(&keys), &[], &reasons_opt()).unwrap();
        assert!(out.profile_changed);
        assert_eq!(profile.len(), 1, "CMAB rules never use the profile");
        let d = &mut out.decisions[1];
        assert_eq!(d.variation_key, "on");
        assert_eq!(d.rule_key, "cmab-rule_1");
        assert_eq!(
            d.reasons,
            vec![
                "Audiences for experiment cmab-rule_1 collectively evaluated to true.",
                "User bucketed into variation on by CMAB service"
            ]
        );
        let imp = d.take_impression().unwrap();
        assert_eq!(
            imp.visitor_value()["snapshots"][0]["decisions"][0]["metadata"]["cmab_uuid"],
            "uuid-1"
        );

        // Outside the audience the CMAB rule is skipped without asking.
        let outsider = user("matjaz", json!({}));
        let mut ctx = Context {
            config: &c,
            user: &outsider,
            overrides: &NoOverrides,
            cmab: &missing,
            profile: None,
            now_ms: 7,
            build_events: true,
        };
        let out = decide(&mut ctx, Some(&keys[1..]), &[], &reasons_opt()).unwrap();
        assert_eq!(
            out.decisions[0].rule_key,
            "default-rollout-496419-16935023792"
        );
        assert_eq!(
            out.decisions[0].reasons[..3],
            [
                "an error occurred while evaluating nested tree for audience ID \"16902921321\"",
                "Audiences for experiment cmab-rule_1 collectively evaluated to false.",
                "User matjaz not in audience for CMAB experiment cmab-rule_1"
            ]
        );
    }

    #[test]
    fn odp_audience_unknown_reasons() {
        let c = config(ODP);
        assert!(c.has_odp());
        let u = user("matjaz-user-1", json!({}));
        let d = one(&c, &u, "flag1", reasons_opt());
        assert_eq!(d.variation_key, "off");
        assert_eq!(
            d.reasons,
            vec![
                "an error occurred while evaluating nested tree for audience ID \"23783030150\"",
                "Audiences for experiment ab_experiment collectively evaluated to false.",
                "User \"matjaz-user-1\" does not meet conditions to be in experiment \"ab_experiment\".",
                "Audiences for experiment default-rollout-52207-23726430538 collectively evaluated to true.",
                "User \"matjaz-user-1\" meets conditions for targeting rule \"Everyone Else\"."
            ]
        );
        // The typed audience (not the legacy dummy) is used: "mac" qualifies.
        let mac = user("matjaz-user-1", json!({"laptop_os": "mac"}));
        let d = one(&c, &mac, "flag1", reasons_opt());
        assert_eq!(d.rule_key, "ab_experiment");
        // Fetched segments meet a `qualified` condition, and the notification (not
        // the response) carries them.
        let mut qualified = user("matjaz-user-1", json!({}));
        qualified.segments = Some(vec!["atsbugbashsegmentgender".into()]);
        let d = one(&c, &qualified, "flag1", reasons_opt());
        assert_eq!(d.rule_key, "ab_experiment");
        assert!(!serde_json::to_string(&d).unwrap().contains("atsbugbash"));
        let message = serde_json::to_value(d.notification(false).unwrap()).unwrap();
        assert_eq!(
            message["UserContext"]["QualifiedSegments"],
            json!(["atsbugbashsegmentgender"])
        );
        qualified.segments = Some(Vec::new());
        let d = one(&c, &qualified, "flag1", reasons_opt());
        assert_eq!(
            d.reasons[1],
            "Audiences for experiment ab_experiment collectively evaluated to false."
        );
    }

    #[test]
    fn holdouts() {
        let c = config(HOLDOUTS);
        // Audiences 6 and 5 are UNKNOWN ("all" missing), holdouts_4 matches and buckets (873 < 5000).
        let u = user("user1", json!({"ho": 4}));
        let mut d = one(&c, &u, "flag1", reasons_opt());
        assert_eq!(d.variation_key, "off");
        assert!(!d.enabled);
        assert_eq!(d.rule_key, "holdouts_4");
        assert_eq!(
            d.reasons,
            vec![
                "an error occurred while evaluating nested tree for audience ID \"5841838209236992\"",
                "Audiences for holdout holdout_6 collectively evaluated to false.",
                "User user1 does not meet conditions for holdout holdout_6.",
                "an error occurred while evaluating nested tree for audience ID \"6410995866796032\"",
                "Audiences for holdout holdout_5 collectively evaluated to false.",
                "User user1 does not meet conditions for holdout holdout_5.",
                "Audiences for holdout holdouts_4 collectively evaluated to true.",
                "User user1 meets conditions for holdout holdouts_4.",
                "User user1 is in variation off of holdout holdouts_4."
            ]
        );
        let imp = d.take_impression().expect("holdouts send impressions");
        let decision = imp.visitor_value()["snapshots"][0]["decisions"][0].clone();
        assert_eq!(decision["experiment_id"], "1673113");
        assert_eq!(decision["variation_id"], "$opt_dummy_variation_id");
        assert_eq!(decision["metadata"]["rule_type"], "holdout");
        let m = d.notification(true).unwrap();
        assert_eq!(
            serde_json::to_value(&m.decision_info).unwrap()["experimentId"],
            "1673113"
        );
        assert_eq!(
            serde_json::to_value(&m.decision_info).unwrap()["variationId"],
            "$opt_dummy_variation_id"
        );

        // In every audience but in no holdout's traffic: the rollout decides.
        let u = user("matjaz", json!({"all": 1}));
        let d = one(&c, &u, "flag2", reasons_opt());
        assert_eq!(d.variation_key, "variation_2");
        assert!(d.enabled);
        let misses = d
            .reasons
            .iter()
            .filter(|r| *r == "User matjaz is in no holdout variation.")
            .count();
        assert_eq!(misses, 4);
        assert_eq!(
            d.reasons[0],
            "Audiences for holdout holdout_6 collectively evaluated to true."
        );
        assert_eq!(
            d.reasons[1],
            "User matjaz meets conditions for holdout holdout_6."
        );

        // The first global holdout that buckets wins (342 < 4000).
        let d = one(
            &c,
            &user("u2", json!({"all": 1})),
            "flag1",
            DecideOptions::default(),
        );
        assert_eq!(d.rule_key, "holdout_6");
    }

    #[test]
    fn holdout_include_and_exclude_lists() {
        let text = HOLDOUTS
            .replacen(
                r#""key": "holdout_6","#,
                r#""key": "holdout_6", "includedFlags": ["497760"],"#,
                1,
            )
            .replacen(
                r#""key": "holdout_5","#,
                r#""key": "holdout_5", "excludedFlags": ["497759"],"#,
                1,
            );
        let c = config(&text);
        let flag1 = c.flag_by_key("flag1").unwrap();
        let keys: Vec<&str> = c.holdouts_for(flag1).map(|h| h.key.as_str()).collect();
        assert_eq!(keys, vec!["holdouts_4", "holdout_3"]);
        let flag2 = c.flag_by_key("flag2").unwrap();
        let keys: Vec<&str> = c.holdouts_for(flag2).map(|h| h.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["holdout_5", "holdouts_4", "holdout_3", "holdout_6"]
        );
        // Holdouts that are not running are dropped.
        let paused = HOLDOUTS.replace(r#""status": "Running""#, r#""status": "Paused""#);
        assert!(config(&paused).holdouts.is_empty());
    }

    #[test]
    fn bucketing_id_attribute() {
        let c = config(KZ);
        let u = user("matjaz", json!({"attr_1": "hola", "$opt_bucketing_id": 5}));
        let d = one(&c, &u, "feature_2", reasons_opt());
        assert_eq!(
            d.reasons,
            vec![
                "Audiences for experiment feature_2_test collectively evaluated to true.",
                r#"Error computing bucketing ID for experiment "feature_2_test": "invalid bucketing ID provided: \"5\"""#
            ]
        );
        assert_eq!(d.variation_key, "variation_1");
    }

    #[test]
    fn group_mutual_exclusion() {
        // Move ab_test1 into a random group that sends everyone to another experiment.
        let mut v: Value = serde_json::from_str(KZ).unwrap();
        let ab = v["experiments"].as_array_mut().unwrap().remove(1);
        v["groups"] = json!([{"id": "g1", "policy": "random",
            "trafficAllocation": [{"entityId": "other", "endOfRange": 10000}],
            "experiments": [ab]}]);
        let c = config(&v.to_string());
        assert!(c.has_experiment("ab_test1"));
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let d = one(&c, &u, "GkbzTurBWXr8EtNGZj2j6e", DecideOptions::default());
        assert_eq!(d.rule_key, "default-rollout-147680-16935023792");
        // Policy "overlapping" skips the group step.
        v["groups"][0]["policy"] = json!("overlapping");
        let c = config(&v.to_string());
        let d = one(&c, &u, "GkbzTurBWXr8EtNGZj2j6e", DecideOptions::default());
        assert_eq!(d.rule_key, "ab_test1");
    }

    #[test]
    fn send_flag_decisions_and_disable_event() {
        let text = KZ.replacen(
            r#""botFiltering": false"#,
            r#""botFiltering": true, "sendFlagDecisions": true"#,
            1,
        );
        let c = config(&text);
        let u = user("matjaz", json!({"attr_1": "hola"}));
        let mut d = one(&c, &u, "feature_1", DecideOptions::default());
        let imp = d
            .take_impression()
            .expect("rollouts send with sendFlagDecisions");
        assert_eq!(
            imp.visitor_value()["snapshots"][0]["decisions"][0]["metadata"]["rule_type"],
            "rollout"
        );
        assert_eq!(imp.visitor_value()["attributes"][1]["value"], true);
        let off = DecideOptions {
            disable_decision_event: true,
            ..DecideOptions::default()
        };
        let mut d = one(&c, &u, "feature_2", off);
        assert!(d.take_impression().is_none());
    }

    #[test]
    fn odd_inputs_never_panic() {
        let odd_attrs = [
            json!({}),
            json!({"attr_1": null, "$opt_bucketing_id": null}),
            json!({"attr_1": [1, {"a": "b"}], "$opt_bucketing_id": {"x": 1}, "ho": "3", "all": false}),
            json!({"attr_1": 1e300, "laptop_os": 5, "ho": -0.0, "all": 1.5, "$opt_bucketing_id": ""}),
            json!({"attr_1": "\u{0}\"", "laptop_os": true, "ho": 3, "all": 3}),
        ];
        let weird = KZ.replacen(
            r#""typedAudiences": []"#,
            r#""typedAudiences": [{"id": "16902921321", "name": "x", "conditions":
                ["not", ["and"], ["or"], 5, null, {"type": 1, "match": ["x"]},
                 {"type": "custom_attribute", "name": "attr_1", "match": "semver_ge", "value": "1.-"}]}]"#,
            1,
        );
        for text in [KZ, ODP, HOLDOUTS, weird.as_str()] {
            let c = config(text);
            for attrs in &odd_attrs {
                let u = user("", attrs.clone());
                let all = DecideOptions {
                    include_reasons: true,
                    ..DecideOptions::default()
                };
                let mut profile = UserProfile::from([("16910084756".into(), "".into())]);
                let out = run(&c, &u, Some(&mut profile), None, &[], all);
                assert_eq!(out.decisions.len(), c.flags.len());
                for mut d in out.decisions {
                    serde_json::to_string(&d).unwrap();
                    if let Some(n) = d.notification(false) {
                        serde_json::to_string(&n).unwrap();
                    }
                    d.take_impression();
                }
            }
        }
    }
}
