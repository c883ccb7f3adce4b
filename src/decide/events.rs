//! Impression and conversion events in the event endpoint's batch shape, and
//! `/v1/track` (conversion plus its notification).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::User;
use super::datafile::{ProjectConfig, Rule, Variation};
use super::notification::{
    ConversionEvent, NotificationMessage, TrackMessage, VisitorAttribute, user_context,
};

/// The client name upstream reports in events.
const CLIENT_NAME: &str = "go-sdk";
/// The client version upstream (Agent with go-sdk v2.3.x) reports in events.
const CLIENT_VERSION: &str = "2.3.0";
/// Numbers beyond 2^53 lose precision in the event pipeline, so they are dropped.
const MAX_EVENT_NUMBER: f64 = 9_007_199_254_740_992.0;

/// Batch header; events with equal contexts share one batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventContext {
    /// The datafile's account id.
    pub account_id: String,
    /// The datafile's project id.
    pub project_id: String,
    /// The datafile revision.
    pub revision: String,
    /// Always `go-sdk`.
    pub client_name: String,
    /// Always `2.3.0`.
    pub client_version: String,
    /// The datafile's `anonymizeIP`.
    pub anonymize_ip: bool,
    /// Always true.
    pub enrich_decisions: bool,
    /// `US` or `EU`.
    pub region: String,
}

impl EventContext {
    pub(crate) fn from_config(config: &ProjectConfig) -> Self {
        EventContext {
            account_id: config.account_id.clone(),
            project_id: config.project_id.clone(),
            revision: config.revision.clone(),
            client_name: CLIENT_NAME.to_string(),
            client_version: CLIENT_VERSION.to_string(),
            anonymize_ip: config.anonymize_ip,
            enrich_decisions: true,
            region: config.region.clone(),
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

/// An impression or conversion event for the event endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEvent {
    /// The batch header it belongs under.
    pub context: EventContext,
    /// One entry of `visitors`: `{visitor_id, attributes, snapshots:[{decisions, events}]}`.
    pub visitor: Value,
}

/// Builds a full batch: the context fields plus `visitors`.
pub fn event_batch(context: &EventContext, visitors: &[Value]) -> Value {
    json!({
        "account_id": context.account_id,
        "project_id": context.project_id,
        "revision": context.revision,
        "client_name": context.client_name,
        "client_version": context.client_version,
        "anonymize_ip": context.anonymize_ip,
        "enrich_decisions": context.enrich_decisions,
        "region": context.region,
        "visitors": visitors,
    })
}

/// Event attributes: datafile attributes (by id) and `$opt_` ones (by key), with
/// values the event pipeline accepts, then `$opt_bot_filtering`.
pub(crate) fn visitor_attributes(config: &ProjectConfig, user: &User) -> Vec<VisitorAttribute> {
    let mut out = Vec::new();
    for (key, value) in user.attributes.iter().flatten() {
        let entity_id = match config.attribute_id(key) {
            Some(id) => id.to_string(),
            None if key.starts_with("$opt_") => key.clone(),
            None => continue,
        };
        let valid = match value {
            Value::String(_) | Value::Bool(_) => true,
            Value::Number(n) => n
                .as_f64()
                .is_some_and(|x| x.is_finite() && x.abs() <= MAX_EVENT_NUMBER),
            _ => false,
        };
        if valid {
            out.push(VisitorAttribute {
                value: value.clone(),
                key: key.clone(),
                kind: "custom".to_string(),
                entity_id,
            });
        }
    }
    out.push(VisitorAttribute {
        value: Value::Bool(config.bot_filtering),
        key: "$opt_bot_filtering".to_string(),
        kind: "custom".to_string(),
        entity_id: "$opt_bot_filtering".to_string(),
    });
    out
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
    let mut metadata = json!({
        "flag_key": imp.flag_key,
        "rule_key": imp.rule_key,
        "rule_type": imp.rule_type,
        "variation_key": imp.variation.map(|v| v.key.as_str()).unwrap_or_default(),
        "enabled": imp.enabled,
    });
    if let (Some(uuid), Some(m)) = (imp.cmab_uuid, metadata.as_object_mut()) {
        m.insert("cmab_uuid".to_string(), Value::String(uuid.to_string()));
    }
    let visitor = json!({
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
                "uuid": uuid::Uuid::new_v4().to_string(),
            }],
        }],
    });
    UserEvent {
        context: EventContext::from_config(config),
        visitor,
    }
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

    let mut snapshot_event = json!({
        "entity_id": event.id,
        "key": event.key,
        "timestamp": now_ms,
        "uuid": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(obj) = snapshot_event.as_object_mut() {
        if !tag_map.is_empty() {
            obj.insert("tags".to_string(), Value::Object(tag_map.clone()));
        }
        if let Some(r) = revenue {
            obj.insert("revenue".to_string(), json!(r));
        }
        if let Some(v) = value {
            obj.insert("value".to_string(), json!(v));
        }
    }
    let visitor = json!({
        "visitor_id": user.id,
        "attributes": attributes,
        "snapshots": [{"events": [snapshot_event]}],
    });
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
        event: UserEvent {
            context: EventContext::from_config(config),
            visitor,
        },
        notification,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KZ: &str = include_str!("testdata/KZbunNn9bVfBWLpZPq2XC4.json");

    fn user(attrs: Value) -> User {
        User {
            id: "matjaz".into(),
            attributes: attrs.as_object().cloned(),
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
        let ev = &event.visitor["snapshots"][0]["events"][0];
        assert_eq!(ev["entity_id"], "16911532385");
        assert_eq!(ev["key"], "myevent");
        assert_eq!(ev["timestamp"], 1_700_000_000_000u64);
        assert_eq!(ev["revenue"], 100);
        assert_eq!(ev["value"], 1.5);
        assert_eq!(ev["uuid"].as_str().unwrap().len(), 36);
        assert_eq!(event.visitor["visitor_id"], "matjaz");
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
            event.visitor["snapshots"][0]["events"][0]
                .get("tags")
                .is_none()
        );
        assert_eq!(
            track(&config, &u, "invalid_event_key", None, 1),
            TrackOutcome::UnknownEvent
        );
    }

    #[test]
    fn batch_shape() {
        let config = ProjectConfig::parse(KZ.as_bytes()).unwrap();
        let ctx = EventContext::from_config(&config);
        let batch = event_batch(&ctx, &[json!({"visitor_id": "v"})]);
        assert_eq!(
            batch,
            json!({"account_id": "10845721364", "project_id": "16931203314", "revision": "139",
                   "client_name": "go-sdk", "client_version": "2.3.0", "anonymize_ip": true,
                   "enrich_decisions": true, "region": "US", "visitors": [{"visitor_id": "v"}]})
        );
        let eu = EventContext {
            region: "EU".into(),
            ..ctx
        };
        assert_eq!(
            eu.default_endpoint(),
            "https://eu.logx.optimizely.com/v1/events"
        );
    }
}
