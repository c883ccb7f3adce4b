//! Notification payloads as upstream's notification stream encodes them: Go struct
//! fields (capitalised, in struct order) are concrete structs here, and Go maps
//! (`DecisionInfo`, attributes, tags) are `serde_json` maps, which serialise sorted —
//! exactly like Go's encoder.

use serde::Serialize;
use serde_json::{Map, Value};

use super::variables::Variables;

/// The user part of every notification (go-sdk `entities.UserContext`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotificationUserContext {
    /// The user id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The request's attributes (`null` when omitted).
    #[serde(rename = "Attributes")]
    pub attributes: Option<Map<String, Value>>,
    /// The segments fetched for this request (`fetchSegments`), else `null`.
    #[serde(rename = "QualifiedSegments")]
    pub qualified_segments: Option<Vec<String>>,
}

/// A decision notification of `/v1/activate` (`ab-test`, `feature-test`,
/// `all-feature-variables`; decide's `flag` is a [`FlagMessage`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionMessage {
    /// The notification type.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The user.
    #[serde(rename = "UserContext")]
    pub user_context: NotificationUserContext,
    /// Type-specific details (their keys vary by type), sorted like Go's map
    /// encoding.
    #[serde(rename = "DecisionInfo")]
    pub decision_info: Map<String, Value>,
}

/// A `/v1/decide` decision notification (type `flag`), borrowed from its decision:
/// the same `Type`, `UserContext`, `DecisionInfo` shape as [`DecisionMessage`].
#[derive(Debug, Serialize)]
pub struct FlagMessage<'a> {
    /// Always `flag`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The user.
    #[serde(rename = "UserContext")]
    pub user_context: UserContextRef<'a>,
    /// The decision.
    #[serde(rename = "DecisionInfo")]
    pub decision_info: FlagDecisionInfo<'a>,
}

/// [`NotificationUserContext`], borrowed.
#[derive(Debug, Serialize)]
pub struct UserContextRef<'a> {
    /// The user id.
    #[serde(rename = "ID")]
    pub id: &'a str,
    /// The request's attributes (`null` when omitted).
    #[serde(rename = "Attributes")]
    pub attributes: Option<&'a Map<String, Value>>,
    /// The segments fetched for this request (`fetchSegments`), else `null`.
    #[serde(rename = "QualifiedSegments")]
    pub qualified_segments: Option<&'a [String]>,
}

/// `DecisionInfo` of a `flag` notification; the fields are in alphabetical order so
/// they serialise as the sorted map upstream sends.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagDecisionInfo<'a> {
    /// Whether the impression was queued.
    pub decision_event_dispatched: bool,
    /// The decision's `enabled`.
    pub enabled: bool,
    /// The rule id (`""` without a rule).
    pub experiment_id: &'a str,
    /// The flag key.
    pub flag_key: &'a str,
    /// The decision's reasons.
    pub reasons: &'a [String],
    /// The rule key.
    pub rule_key: &'a str,
    /// The typed variables.
    #[serde(serialize_with = "plain_variables")]
    pub variables: &'a Variables,
    /// The variation id (`""` without a variation).
    pub variation_id: &'a str,
    /// The variation key.
    pub variation_key: &'a str,
}

fn plain_variables<S: serde::Serializer>(
    variables: &&Variables,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    variables.serialize_plain(serializer)
}

/// One visitor attribute of a conversion (go-sdk `event.VisitorAttribute`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VisitorAttribute {
    /// The attribute value.
    pub value: Value,
    /// The attribute key.
    pub key: String,
    /// Always `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The datafile attribute id, or the key for `$opt_` attributes.
    pub entity_id: String,
}

/// The conversion inside a track notification (go-sdk `event.ConversionEvent`),
/// including its oddly capitalised `Attributes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversionEvent {
    /// The event id.
    pub entity_id: String,
    /// The event key.
    pub key: String,
    /// Visitor attributes, `$opt_bot_filtering` last.
    #[serde(rename = "Attributes")]
    pub attributes: Vec<VisitorAttribute>,
    /// The event tags; omitted when empty.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
    /// The integer `revenue` tag, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<i64>,
    /// The numeric `value` tag, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// A track notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrackMessage {
    /// The event key.
    #[serde(rename = "EventKey")]
    pub event_key: String,
    /// The user.
    #[serde(rename = "UserContext")]
    pub user_context: NotificationUserContext,
    /// The request's tags (`null` when omitted).
    #[serde(rename = "EventTags")]
    pub event_tags: Option<Map<String, Value>>,
    /// The conversion that was queued.
    #[serde(rename = "ConversionEvent")]
    pub conversion_event: ConversionEvent,
}

/// The `message` of a notification, serialising exactly as upstream's stream does.
///
/// A concrete type rather than `serde_json::Value` because a `Value` map would sort
/// the struct-ordered keys (`Type`, `UserContext`, `DecisionInfo`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NotificationMessage {
    /// A decision notification (stream filter `decision`).
    Decision(DecisionMessage),
    /// A track notification (stream filter `track`).
    Track(TrackMessage),
}

impl NotificationMessage {
    /// The stream filter name this message belongs to: `decision` or `track`.
    pub fn filter_name(&self) -> &'static str {
        match self {
            NotificationMessage::Decision(_) => "decision",
            NotificationMessage::Track(_) => "track",
        }
    }

    /// The message as a JSON value (keys of struct parts then come out sorted; use
    /// `serde_json::to_string(self)` for the wire form).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

pub(crate) fn user_context(user: &super::User) -> NotificationUserContext {
    NotificationUserContext {
        id: user.id.clone(),
        attributes: user.attributes.clone(),
        qualified_segments: user.segments.clone(),
    }
}
