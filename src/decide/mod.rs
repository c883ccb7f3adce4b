//! The pure decision engine: datafile model, bucketing, audience evaluation,
//! decide / activate / track, reasons, OptimizelyConfig and notification payloads.
//!
//! This module performs no I/O. It reads no clock (callers pass `now_ms`), opens no
//! files and talks to no network: the CMAB prediction service is reached through the
//! [`Cmab`] trait, whose implementation (in the server) pre-fetches answers; when an
//! answer is missing the engine returns [`NeedCmab`] and the caller retries with the
//! same inputs once it has one. It imports nothing else from the crate.
//!
//! Behaviour follows go-sdk v2.3.1 as embedded by the upstream Agent; the facts it
//! relies on (strings, constants, orderings) are listed in the shared decision facts.

mod activate;
mod audience;
mod bucket;
mod condition;
mod config_view;
mod datafile;
mod engine;
mod events;
mod gojson;
mod notification;
mod raw;
mod semver;
mod text;
mod variables;

use std::collections::BTreeMap;

pub use activate::{ActivateOutcome, ActivateQuery, ActivateResult, UnsupportedType, activate};
pub use bucket::{bucket_value, murmur3_32};
pub use config_view::{
    OptimizelyAttribute, OptimizelyAudience, OptimizelyConfig, OptimizelyEvent,
    OptimizelyExperiment, OptimizelyFeature, OptimizelyVariable, OptimizelyVariation,
};
pub use datafile::{DatafileError, OdpIntegration, ProjectConfig};
pub use engine::{DecideOutcome, Decision, DecisionUserContext, decide};
pub use events::{CLIENT_NAME, CLIENT_VERSION, EventContext, TrackOutcome, UserEvent, track};
pub use gojson::to_go_json;
pub use notification::{
    ConversionEvent, DecisionMessage, FlagDecisionInfo, FlagMessage, NotificationMessage,
    NotificationUserContext, TrackMessage, UserContextRef, VisitorAttribute,
};
pub use variables::Variables;

/// The user a decision is made for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct User {
    /// The user id from the request (`userId`).
    pub id: String,
    /// The request's `userAttributes`; `None` when the field was omitted, which is
    /// echoed back as `null` (as upstream does).
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The user's qualified ODP segments; `None` unless they were fetched
    /// (`fetchSegments`), in which case `qualified` conditions test them.
    pub segments: Option<Vec<String>>,
}

impl User {
    /// One attribute by key, `None` when absent (a JSON `null` is returned as such).
    pub(crate) fn attribute(&self, key: &str) -> Option<&serde_json::Value> {
        self.attributes.as_ref().and_then(|m| m.get(key))
    }
}

/// One forced decision from the request body (`forcedDecisions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForcedDecision {
    /// The flag the decision applies to.
    pub flag_key: String,
    /// `None` (or absent in the request) for a flag-level forced decision.
    pub rule_key: Option<String>,
    /// The variation to force; looked up among all variations of the flag's rules.
    pub variation_key: String,
}

/// Decide options as sent in `decideOptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecideOptions {
    /// `DISABLE_DECISION_EVENT`: queue no impression.
    pub disable_decision_event: bool,
    /// `ENABLED_FLAGS_ONLY`: drop disabled decisions (several or all keys only).
    pub enabled_flags_only: bool,
    /// `IGNORE_USER_PROFILE_SERVICE`: neither read nor write the user profile.
    pub ignore_user_profile_service: bool,
    /// `INCLUDE_REASONS`: report info reasons too (error reasons are always reported).
    pub include_reasons: bool,
    /// `EXCLUDE_VARIABLES`: leave the variables out.
    pub exclude_variables: bool,
    /// `IGNORE_CMAB_CACHE`: for the server's CMAB cache.
    pub ignore_cmab_cache: bool,
    /// `RESET_CMAB_CACHE`: for the server's CMAB cache.
    pub reset_cmab_cache: bool,
    /// `INVALIDATE_USER_CMAB_CACHE`: for the server's CMAB cache.
    pub invalidate_user_cmab_cache: bool,
}

/// A decide option name that is not one of the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid option: {0}")]
pub struct InvalidOption(pub String);

impl DecideOptions {
    /// Parses the request's option names. Names are case-sensitive, as upstream.
    ///
    /// # Errors
    ///
    /// The first unknown name, displayed as `invalid option: <name>`.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidOption> {
        let mut options = DecideOptions::default();
        for name in names {
            let flag = match name {
                "DISABLE_DECISION_EVENT" => &mut options.disable_decision_event,
                "ENABLED_FLAGS_ONLY" => &mut options.enabled_flags_only,
                "IGNORE_USER_PROFILE_SERVICE" => &mut options.ignore_user_profile_service,
                "INCLUDE_REASONS" => &mut options.include_reasons,
                "EXCLUDE_VARIABLES" => &mut options.exclude_variables,
                "IGNORE_CMAB_CACHE" => &mut options.ignore_cmab_cache,
                "RESET_CMAB_CACHE" => &mut options.reset_cmab_cache,
                "INVALIDATE_USER_CMAB_CACHE" => &mut options.invalidate_user_cmab_cache,
                other => return Err(InvalidOption(other.to_string())),
            };
            *flag = true;
        }
        Ok(options)
    }
}

/// A user profile (the UPS record): experiment id -> variation id.
pub type UserProfile = BTreeMap<String, String>;

/// Agent overrides set through `/v1/override`, consulted first among the experiment
/// services.
pub trait Overrides {
    /// The overriding variation key for this experiment and user, if one is stored.
    fn variation_for(&self, experiment_key: &str, user_id: &str) -> Option<String>;
}

/// An [`Overrides`] with nothing stored, for callers that do not support overrides.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOverrides;

impl Overrides for NoOverrides {
    fn variation_for(&self, _experiment_key: &str, _user_id: &str) -> Option<String> {
        None
    }
}

/// One attribute sent to the CMAB prediction service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CmabAttribute {
    /// The datafile attribute id.
    pub id: String,
    /// The user's value, JSON-encoded (so the request can be a hash-map key); decode it
    /// with [`CmabAttribute::value`].
    pub value_json: String,
}

impl CmabAttribute {
    /// The attribute value as JSON (`null` if the stored text were somehow invalid).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.value_json).unwrap_or(serde_json::Value::Null)
    }
}

/// A CMAB prediction the engine needs: everything the server's HTTP client sends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmabRequest {
    /// The CMAB rule (experiment) id; also the `experimentId` of the prediction body.
    pub rule_id: String,
    /// The user id (`visitorId`).
    pub user_id: String,
    /// The user's attributes named by the rule's `cmab.attributeIds`, in that order.
    pub attributes: Vec<CmabAttribute>,
}

/// What the server knows about one [`CmabRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmabAnswer {
    /// The service predicted this variation.
    Variation {
        /// The predicted variation id.
        variation_id: String,
        /// The uuid sent with the prediction; goes into impression metadata.
        cmab_uuid: String,
    },
    /// The prediction could not be fetched (e.g. offline).
    Failed,
}

/// Source of CMAB predictions. The server pre-fetches asynchronously, so a lookup
/// never blocks: `None` means "no answer yet".
pub trait Cmab {
    /// The known answer for this request, if any.
    fn lookup(&self, request: &CmabRequest) -> Option<CmabAnswer>;
}

/// A [`Cmab`] that always reports failure, as an offline Agent does.
#[derive(Clone, Copy, Debug, Default)]
pub struct CmabOffline;

impl Cmab for CmabOffline {
    fn lookup(&self, _request: &CmabRequest) -> Option<CmabAnswer> {
        Some(CmabAnswer::Failed)
    }
}

/// Returned when a CMAB answer is missing: fetch it, cache it, and call again with the
/// same inputs. Nothing (in particular not the user profile) has been changed.
#[derive(Debug)]
pub struct NeedCmab(pub CmabRequest);

/// Everything one decide/activate call reads.
pub struct Context<'a> {
    /// The datafile to decide against.
    pub config: &'a ProjectConfig,
    /// The user.
    pub user: &'a User,
    /// Agent overrides (`/v1/override`).
    pub overrides: &'a dyn Overrides,
    /// CMAB predictions.
    pub cmab: &'a dyn Cmab,
    /// `None` when no user profile service is configured or it is ignored; the engine
    /// reads and updates it in place (only when the call succeeds).
    pub profile: Option<&'a mut UserProfile>,
    /// Milliseconds since the Unix epoch, stamped on events.
    pub now_ms: u64,
    /// Whether decide builds impression events. `false` when the caller discards
    /// events anyway: building them is most of a decision's cost, and
    /// [`Decision::impression_due`] still says whether one was due.
    pub build_events: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_options_parse() {
        let o = DecideOptions::parse(["INCLUDE_REASONS", "ENABLED_FLAGS_ONLY", "RESET_CMAB_CACHE"])
            .unwrap();
        assert_eq!(
            o,
            DecideOptions {
                include_reasons: true,
                enabled_flags_only: true,
                reset_cmab_cache: true,
                ..DecideOptions::default()
            }
        );
        let all = [
            "DISABLE_DECISION_EVENT",
            "ENABLED_FLAGS_ONLY",
            "IGNORE_USER_PROFILE_SERVICE",
            "INCLUDE_REASONS",
            "EXCLUDE_VARIABLES",
            "IGNORE_CMAB_CACHE",
            "RESET_CMAB_CACHE",
            "INVALIDATE_USER_CMAB_CACHE",
        ];
        let o = DecideOptions::parse(all).unwrap();
        assert!(o.disable_decision_event && o.ignore_user_profile_service && o.exclude_variables);
        assert!(o.ignore_cmab_cache && o.invalidate_user_cmab_cache);
        let err = DecideOptions::parse(["INCLUDE_REASONS", "include_reasons"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid option: include_reasons");
        assert_eq!(
            DecideOptions::parse([""]).unwrap_err().to_string(),
            "invalid option: "
        );
    }
}
