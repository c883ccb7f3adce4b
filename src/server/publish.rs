//! The one door through which `serve` hands notifications to the hub: handlers
//! (decide, activate, track) and the datafile registry (datafile updates) alike.
//! It counts a notification as published only when the hub accepted it, and as
//! dropped when the hub refused it (buffer full) or it could not be encoded.

use serde::Serialize;

use super::metrics::Metrics;
use crate::notify::{Hub, Kind, Notification};
use crate::telemetry::TARGET;

/// Publishes `notification` for `sdk_key`; returns whether the hub accepted it.
/// With tracing on this is a `publish` span, named after the hub's transport
/// (`redis-streams`, `redis-pubsub`, `memory`): the hand-over to the batching
/// publisher, which writes to Redis off the request path.
pub(crate) fn publish(
    hub: &Hub,
    metrics: &Metrics,
    sdk_key: &str,
    notification: Notification,
) -> bool {
    let kind = notification.kind;
    let span = tracing::info_span!(
        target: TARGET,
        "publish",
        otel.name = %format_args!("publish {}", hub.name()),
        otel.kind = "producer",
        messaging.system = hub.name(),
        messaging.operation = "publish",
        "notification.type" = %kind,
        notification.accepted = tracing::field::Empty,
    );
    // A disabled span still looks fields up by name on `record`: skip it.
    let accepted = if span.is_disabled() {
        hub.publish(sdk_key, notification)
    } else {
        let accepted = span.in_scope(|| hub.publish(sdk_key, notification));
        span.record("notification.accepted", accepted);
        accepted
    };
    if accepted {
        metrics.published(kind);
    } else {
        metrics.notification_dropped();
    }
    accepted
}

/// Encodes `message` as a `kind` notification and [`publish`]es it; a message that
/// cannot be encoded is logged and counted as dropped.
pub(crate) fn publish_message(
    hub: &Hub,
    metrics: &Metrics,
    sdk_key: &str,
    kind: Kind,
    message: &impl Serialize,
) -> bool {
    match Notification::new(kind, message) {
        Ok(notification) => publish(hub, metrics, sdk_key, notification),
        Err(err) => {
            metrics.notification_dropped();
            tracing::error!("encoding a {kind} notification: {err}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn published_and_dropped_are_counted_by_what_the_hub_did() {
        let hub = Hub::memory(16);
        let metrics = Metrics::default();
        assert!(publish(
            &hub,
            &metrics,
            "key",
            Notification::datafile_update("2", "p")
        ));
        assert!(publish_message(
            &hub,
            &metrics,
            "key",
            Kind::Track,
            &serde_json::json!({"a": 1})
        ));
        let text = super::super::metrics::prometheus_text(metrics.samples()).unwrap();
        for kind in ["datafile-update", "track"] {
            let line = format!("agentctl_notifications_published_total{{type=\"{kind}\"}} 1");
            assert!(text.contains(&line), "{text}");
        }
    }
}
