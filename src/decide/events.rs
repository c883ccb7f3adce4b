//! Impression and conversion events in the event endpoint's batch shape, and
//! `/v1/track` (conversion plus its notification).

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::ser::Serializer;
use serde_json::{Map, Value};

use super::User;
use super::datafile::{ProjectConfig, Rule, Variation};
use super::notification::{
    ConversionEvent, NotificationMessage, TrackMessage, VisitorAttribute, user_context,
};

/// The client name upstream reports in events.
pub const CLIENT_NAME: &str = "go-sdk";
/// The client version upstream (Agent with go-sdk v2.3.x) reports in events.
pub const CLIENT_VERSION: &str = "2.3.0";
/// Numbers beyond 2^53 lose precision in the event pipeline, so they are dropped.
const MAX_EVENT_NUMBER: f64 = 9_007_199_254_740_992.0;
/// Room for one serialised visitor without reallocation in the common case.
const VISITOR_CAPACITY: usize = 768;

/// Batch header; events with equal contexts share one batch.
///
/// The fields are in alphabetical order, so the derived serialisation has the
/// sorted keys the event endpoint always received (as from a `serde_json` map).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventContext {
    /// The datafile's account id.
    pub account_id: String,
    /// The datafile's `anonymizeIP`.
    pub anonymize_ip: bool,
    /// Always `go-sdk`.
    pub client_name: String,
    /// Always `2.3.0`.
    pub client_version: String,
    /// Always true.
    pub enrich_decisions: bool,
    /// The datafile's project id.
    pub project_id: String,
    /// `US` or `EU`.
    pub region: String,
    /// The datafile revision.
    pub revision: String,
}

impl EventContext {
    /// The header of the events of one datafile.
    pub(crate) fn new(
        account_id: &str,
        project_id: &str,
        revision: &str,
        anonymize_ip: bool,
        region: &str,
    ) -> Self {
        EventContext {
            account_id: account_id.to_owned(),
            anonymize_ip,
            client_name: CLIENT_NAME.to_owned(),
            client_version: CLIENT_VERSION.to_owned(),
            enrich_decisions: true,
            project_id: project_id.to_owned(),
            region: region.to_owned(),
            revision: revision.to_owned(),
        }
    }

    /// The endpoint upstream would use for this region (informational).
    pub fn default_endpoint(&self) -> &'static str {
        if self.region == "EU" {
            "https://eu.logx.optimizely.com/v1/events"
        } else {
            "https://logx.optimizely.com/v1/events"
        }
    }
}

/// The batch header of one datafile revision, built and serialised once when the
/// datafile is parsed and shared by every event of that revision.
#[derive(Clone, Debug)]
pub(crate) struct EventHeader {
    pub(crate) context: Arc<EventContext>,
    /// `context` as a JSON object.
    pub(crate) json: Bytes,
}

impl EventHeader {
    pub(crate) fn new(context: EventContext) -> Self {
        let json = to_bytes(&context, 256);
        EventHeader {
            context: Arc::new(context),
            json,
        }
    }
}

/// `value` as JSON in a buffer of `capacity` bytes to start with.
fn to_bytes<T: Serialize>(value: &T, capacity: usize) -> Bytes {
    let mut out = Vec::with_capacity(capacity);
    // Structs of strings, numbers and string-keyed maps always serialise.
    serde_json::to_writer(&mut out, value).expect("event JSON serialises into memory");
    Bytes::from(out)
}

/// An impression or conversion event for the event endpoint, serialised.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEvent {
    /// The batch header it belongs under.
    pub context: Arc<EventContext>,
    /// `context` as a JSON object, shared by the events of one datafile revision.
    pub header: Bytes,
    /// One entry of `visitors` as JSON:
    /// `{attributes, snapshots:[{decisions, events}], visitor_id}`.
    pub visitor: Bytes,
}

impl UserEvent {
    fn new(config: &ProjectConfig, visitor: &impl Serialize) -> Self {
        UserEvent {
            context: Arc::clone(&config.event_header.context),
            header: config.event_header.json.clone(),
            visitor: to_bytes(visitor, VISITOR_CAPACITY),
        }
    }

    /// The visitor parsed back, for tests that look into it.
    #[cfg(test)]
    pub(crate) fn visitor_value(&self) -> Value {
        serde_json::from_slice(&self.visitor).unwrap_or_default()
    }
}

/// One event attribute, borrowed from the datafile and the request.
#[derive(Serialize)]
struct AttributeRef<'a> {
    entity_id: &'a str,
    key: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a Value,
}

const BOT_FILTERING: &str = "$opt_bot_filtering";

/// Event attributes: datafile attributes (by id) and `$opt_` ones (by key), with
/// values the event pipeline accepts, then `$opt_bot_filtering` (whose value is
/// `bot_filtering`). Serialised with their keys sorted, as the endpoint receives them.
fn attribute_refs<'a>(
    config: &'a ProjectConfig,
    user: &'a User,
    bot_filtering: &'a Value,
) -> impl Iterator<Item = AttributeRef<'a>> {
    let from_user = user
        .attributes
        .iter()
        .flatten()
        .filter_map(move |(key, value)| {
            let entity_id = match config.attribute_id(key) {
                Some(id) => id,
                None if key.starts_with("$opt_") => key.as_str(),
                None => return None,
            };
            let valid = match value {
                Value::String(_) | Value::Bool(_) => true,
                Value::Number(n) => n
                    .as_f64()
                    .is_some_and(|x| x.is_finite() && x.abs() <= MAX_EVENT_NUMBER),
                _ => false,
            };
            valid.then_some(AttributeRef {
                entity_id,
                key,
                kind: "custom",
                value,
            })
        });
    from_user.chain(std::iter::once(AttributeRef {
        entity_id: BOT_FILTERING,
        key: BOT_FILTERING,
        kind: "custom",
        value: bot_filtering,
    }))
}

/// The event attributes as the track notification carries them.
pub(crate) fn visitor_attributes(config: &ProjectConfig, user: &User) -> Vec<VisitorAttribute> {
    let bot_filtering = Value::Bool(config.bot_filtering);
    attribute_refs(config, user, &bot_filtering)
        .map(|a| VisitorAttribute {
            value: a.value.clone(),
            key: a.key.to_owned(),
            kind: a.kind.to_owned(),
            entity_id: a.entity_id.to_owned(),
        })
        .collect()
}

// The event endpoint's JSON shapes, borrowing from the datafile and the request.
// Keys are declared in alphabetical order: the endpoint has always received them
// sorted (they used to be `serde_json` maps).

/// `attributes`, serialised from the borrowed attributes as they are produced.
struct EventAttributes<'a> {
    config: &'a ProjectConfig,
    user: &'a User,
}

impl Serialize for EventAttributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bot_filtering = Value::Bool(self.config.bot_filtering);
        serializer.collect_seq(attribute_refs(self.config, self.user, &bot_filtering))
    }
}

/// One element of `visitors`.
#[derive(Serialize)]
struct VisitorJson<'a, S> {
    attributes: EventAttributes<'a>,
    snapshots: [S; 1],
    visitor_id: &'a str,
}

/// An impression's snapshot.
#[derive(Serialize)]
struct ImpressionSnapshot<'a> {
    decisions: [DecisionJson<'a>; 1],
    events: [SnapshotEvent<'a>; 1],
}

/// A conversion's snapshot.
#[derive(Serialize)]
struct ConversionSnapshot<'a> {
    events: [SnapshotEvent<'a>; 1],
}

#[derive(Serialize)]
struct DecisionJson<'a> {
    campaign_id: &'a str,
    experiment_id: &'a str,
    metadata: Metadata<'a>,
    variation_id: &'a str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cmab_uuid: Option<&'a str>,
    enabled: bool,
    flag_key: &'a str,
    rule_key: &'a str,
    rule_type: &'a str,
    variation_key: &'a str,
}

#[derive(Serialize)]
struct SnapshotEvent<'a> {
    entity_id: &'a str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a Map<String, Value>>,
    timestamp: u64,
    uuid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

/// The inputs of one impression.
pub(crate) struct Impression<'a> {
    pub(crate) rule: Option<&'a Rule>,
    pub(crate) variation: Option<&'a Variation>,
    pub(crate) flag_key: &'a str,
    pub(crate) rule_key: &'a str,
    pub(crate) rule_type: &'a str,
    pub(crate) enabled: bool,
    pub(crate) cmab_uuid: Option<&'a str>,
}

pub(crate) fn impression_event(
    config: &ProjectConfig,
    user: &User,
    imp: &Impression<'_>,
    now_ms: u64,
) -> UserEvent {
    let campaign_id = imp.rule.map(|r| r.layer_id.as_str()).unwrap_or_default();
    let mut uuid = uuid::Uuid::encode_buffer();
    let uuid = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid);
    let visitor = VisitorJson {
        attributes: EventAttributes { config, user },
        snapshots: [ImpressionSnapshot {
            decisions: [DecisionJson {
                campaign_id,
                experiment_id: imp.rule.map(|r| r.id.as_str()).unwrap_or_default(),
                metadata: Metadata {
                    cmab_uuid: imp.cmab_uuid,
                    enabled: imp.enabled,
                    flag_key: imp.flag_key,
                    rule_key: imp.rule_key,
                    rule_type: imp.rule_type,
                    variation_key: imp.variation.map(|v| v.key.as_str()).unwrap_or_default(),
                },
                variation_id: imp.variation.map(|v| v.id.as_str()).unwrap_or_default(),
            }],
            events: [SnapshotEvent {
                entity_id: campaign_id,
                key: "campaign_activated",
                revenue: None,
                tags: None,
                timestamp: now_ms,
                uuid,
                value: None,
            }],
        }],
        visitor_id: &user.id,
    };
    UserEvent::new(config, &visitor)
}

/// What `/v1/track` does for one event key.
#[derive(Clone, Debug, PartialEq)]
// A one-shot return value that is matched immediately; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum TrackOutcome {
    /// A known event: queue `event` and publish `notification`.
    Tracked {
        /// The conversion event.
        event: UserEvent,
        /// The track notification message.
        notification: NotificationMessage,
    },
    /// No event with that key: upstream answers 200 with
    /// `event with key "<k>" not found`.
    UnknownEvent,
}

/// `revenue` must be a whole number; Agent decodes JSON numbers as float64.
fn revenue_of(tags: &Map<String, Value>) -> Option<i64> {
    let n = tags.get("revenue")?.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // Only exact integers within i64 are lifted; the cast is exact for them.
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

/// `/v1/track`: the conversion event for a known event key.
pub fn track(
    config: &ProjectConfig,
    user: &User,
    event_key: &str,
    tags: Option<&Map<String, Value>>,
    now_ms: u64,
) -> TrackOutcome {
    let Some(event) = config.events.iter().find(|e| e.key == event_key) else {
        return TrackOutcome::UnknownEvent;
    };
    let tag_map = tags.cloned().unwrap_or_default();
    let revenue = revenue_of(&tag_map);
    let value = tag_map.get("value").and_then(Value::as_f64);
    let attributes = visitor_attributes(config, user);

    let mut uuid = uuid::Uuid::encode_buffer();
    let uuid = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid);
    let visitor = VisitorJson {
        attributes: EventAttributes { config, user },
        snapshots: [ConversionSnapshot {
            events: [SnapshotEvent {
                entity_id: &event.id,
                key: &event.key,
                revenue,
                tags: (!tag_map.is_empty()).then_some(&tag_map),
                timestamp: now_ms,
                uuid,
                value,
            }],
        }],
        visitor_id: &user.id,
    };
    let event_json = UserEvent::new(config, &visitor);
    let notification = NotificationMessage::Track(TrackMessage {
        event_key: event.key.clone(),
        user_context: user_context(user),
        event_tags: tags.cloned(),
        conversion_event: ConversionEvent {
            entity_id: event.id.clone(),
            key: event.key.clone(),
            attributes,
            tags: tag_map,
            revenue,
            value,
        },
    });
    TrackOutcome::Tracked {
        event: event_json,
        notification,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");

    fn user(attrs: Value) -> User {
        User {
            id: "matjaz".into(),
            attributes: attrs.as_object().cloned(),
            segments: None,
        }
    }

    #[test]
    fn track_known_event() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let tags = json!({"revenue": 100.0, "value": 1.5, "x": "y"});
        let u = user(json!({"attr_1": "hola", "other": 1, "$opt_x": true}));
        let TrackOutcome::Tracked {
            event,
            notification,
        } = track(&config, &u, "myevent", tags.as_object(), 1_700_000_000_000)
        else {
            panic!("known event")
        };
        assert_eq!(
            serde_json::to_string(&notification).unwrap(),
            concat!(
                r#"{"EventKey":"myevent","UserContext":{"ID":"matjaz","Attributes":{"$opt_x":true,"attr_1":"hola","other":1},"QualifiedSegments":null},"#,
                r#""EventTags":{"revenue":100.0,"value":1.5,"x":"y"},"#,
                r#""ConversionEvent":{"entity_id":"16911532385","key":"myevent","Attributes":["#,
                r#"{"value":true,"key":"$opt_x","type":"custom","entity_id":"$opt_x"},"#,
                r#"{"value":"hola","key":"attr_1","type":"custom","entity_id":"16921322086"},"#,
                r#"{"value":false,"key":"$opt_bot_filtering","type":"custom","entity_id":"$opt_bot_filtering"}],"#,
                r#""tags":{"revenue":100.0,"value":1.5,"x":"y"},"revenue":100,"value":1.5}}"#
            )
        );
        assert_eq!(notification.filter_name(), "track");
        let ev = event.visitor_value()["snapshots"][0]["events"][0].clone();
        assert_eq!(ev["entity_id"], "16911532385");
        assert_eq!(ev["key"], "myevent");
        assert_eq!(ev["timestamp"], 1_700_000_000_000u64);
        assert_eq!(ev["revenue"], 100);
        assert_eq!(ev["value"], 1.5);
        assert_eq!(ev["uuid"].as_str().unwrap().len(), 36);
        assert_eq!(event.visitor_value()["visitor_id"], "matjaz");
        assert_eq!(event.context.client_name, "go-sdk");
        assert_eq!(event.context.client_version, "2.3.0");
        assert!(event.context.anonymize_ip);
        assert_eq!(
            event.context.default_endpoint(),
            "https://logx.optimizely.com/v1/events"
        );
    }

    #[test]
    fn track_without_tags_and_unknown_event() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let u = User {
            id: "matjaz".into(),
            attributes: None,
            segments: None,
        };
        let TrackOutcome::Tracked {
            notification,
            event,
        } = track(&config, &u, "myevent", None, 1)
        else {
            panic!("known event")
        };
        assert_eq!(
            serde_json::to_string(&notification).unwrap(),
            concat!(
                r#"{"EventKey":"myevent","UserContext":{"ID":"matjaz","Attributes":null,"QualifiedSegments":null},"#,
                r#""EventTags":null,"ConversionEvent":{"entity_id":"16911532385","key":"myevent","Attributes":["#,
                r#"{"value":false,"key":"$opt_bot_filtering","type":"custom","entity_id":"$opt_bot_filtering"}]}}"#
            )
        );
        assert!(
            event.visitor_value()["snapshots"][0]["events"][0]
                .get("tags")
                .is_none()
        );
        assert_eq!(
            track(&config, &u, "invalid_event_key", None, 1),
            TrackOutcome::UnknownEvent
        );
    }

    #[test]
    fn header_shape() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let header = &config.event_header;
        assert_eq!(
            std::str::from_utf8(&header.json).unwrap(),
            concat!(
                r#"{"account_id":"10845721364","anonymize_ip":true,"client_name":"go-sdk","#,
                r#""client_version":"2.3.0","enrich_decisions":true,"project_id":"16931203314","#,
                r#""region":"US","revision":"139"}"#
            )
        );
        // The bytes are what the header map of earlier versions serialised to.
        let map = serde_json::to_value(&*header.context).unwrap();
        assert_eq!(serde_json::to_vec(&map).unwrap(), header.json);
        let eu = EventContext {
            region: "EU".into(),
            ..(*header.context).clone()
        };
        assert_eq!(
            eu.default_endpoint(),
            "https://eu.logx.optimizely.com/v1/events"
        );
    }

    /// The visitor as earlier versions built it, with `serde_json::Value` maps:
    /// the reference the typed structs must match byte for byte.
    fn reference_impression(
        config: &ProjectConfig,
        user: &User,
        imp: &Impression<'_>,
        now_ms: u64,
        uuid: &str,
    ) -> Value {
        let campaign_id = imp.rule.map(|r| r.layer_id.as_str()).unwrap_or_default();
        let mut metadata = json!({
            "flag_key": imp.flag_key,
            "rule_key": imp.rule_key,
            "rule_type": imp.rule_type,
            "variation_key": imp.variation.map(|v| v.key.as_str()).unwrap_or_default(),
            "enabled": imp.enabled,
        });
        if let Some(uuid) = imp.cmab_uuid {
            metadata["cmab_uuid"] = json!(uuid);
        }
        json!({
            "visitor_id": user.id,
            "attributes": visitor_attributes(config, user),
            "snapshots": [{
                "decisions": [{
                    "campaign_id": campaign_id,
                    "experiment_id": imp.rule.map(|r| r.id.as_str()).unwrap_or_default(),
                    "variation_id": imp.variation.map(|v| v.id.as_str()).unwrap_or_default(),
                    "metadata": metadata,
                }],
                "events": [{
                    "entity_id": campaign_id,
                    "key": "campaign_activated",
                    "timestamp": now_ms,
                    "uuid": uuid,
                }],
            }],
        })
    }

    fn uuid_of(event: &UserEvent, path: &[&str]) -> String {
        let v = event.visitor_value();
        let mut at = &v["snapshots"][0];
        for p in path {
            at = &at[*p][0];
        }
        at["uuid"].as_str().unwrap().to_owned()
    }

    #[test]
    fn impression_bytes_match_the_value_built_json() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let rule = &config.experiments[0];
        let variation = &rule.variations[0];
        let users = [
            user(json!({"attr_1": "hola \"<&>\" \u{2028}", "other": 1, "$opt_x": true, "n": 2.5})),
            User {
                id: "ü <user>".into(),
                attributes: None,
                segments: None,
            },
        ];
        for u in &users {
            for (with_rule, cmab_uuid) in [(true, None), (true, Some("c-1")), (false, None)] {
                let imp = Impression {
                    rule: with_rule.then_some(rule),
                    variation: with_rule.then_some(variation),
                    flag_key: "flag",
                    rule_key: "rule",
                    rule_type: "experiment",
                    enabled: with_rule,
                    cmab_uuid,
                };
                let event = impression_event(&config, u, &imp, 1_700_000_000_123);
                let uuid = uuid_of(&event, &["events"]);
                let reference = reference_impression(&config, u, &imp, 1_700_000_000_123, &uuid);
                assert_eq!(
                    std::str::from_utf8(&event.visitor).unwrap(),
                    serde_json::to_string(&reference).unwrap()
                );
                assert_eq!(event.header, config.event_header.json);
            }
        }
    }

    #[test]
    fn conversion_bytes_match_the_value_built_json() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let u = user(json!({"attr_1": "hola", "$opt_y": 3}));
        let tag_cases = [
            None,
            Some(json!({})),
            Some(json!({"revenue": 100.0, "value": 1.5, "x": "y"})),
            Some(json!({"revenue": 7, "value": 2, "nested": {"a": [1, null]}})),
            Some(json!({"revenue": 1.5, "value": "no"})),
        ];
        for tags in &tag_cases {
            let TrackOutcome::Tracked { event, .. } = track(
                &config,
                &u,
                "myevent",
                tags.as_ref().and_then(Value::as_object),
                42,
            ) else {
                panic!("known event")
            };
            let uuid = uuid_of(&event, &["events"]);
            let tag_map = tags
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut snapshot_event = json!({
                "entity_id": "16911532385",
                "key": "myevent",
                "timestamp": 42,
                "uuid": uuid,
            });
            if !tag_map.is_empty() {
                snapshot_event["tags"] = Value::Object(tag_map.clone());
            }
            if let Some(r) = revenue_of(&tag_map) {
                snapshot_event["revenue"] = json!(r);
            }
            if let Some(v) = tag_map.get("value").and_then(Value::as_f64) {
                snapshot_event["value"] = json!(v);
            }
            let reference = json!({
                "visitor_id": u.id,
                "attributes": visitor_attributes(&config, &u),
                "snapshots": [{"events": [snapshot_event]}],
            });
            assert_eq!(
                std::str::from_utf8(&event.visitor).unwrap(),
                serde_json::to_string(&reference).unwrap()
            );
        }
    }
}
