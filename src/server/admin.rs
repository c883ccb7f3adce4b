//! The admin listener: `/health` (at `server.healthCheckPath` too), `/ready`,
//! `/info` and `/metrics`.
//!
//! `/health` is liveness: 200 while the process serves, whatever Redis does (a
//! restart would not bring Redis back). `/ready` is readiness, as Kubernetes
//! expects: 503 with a reason while the notification hub is undecided (Redis has
//! not answered yet) or Redis has been unreachable for longer than
//! `connection_timeout`, so a load balancer can route SSE clients elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::Shared;
use super::json::{GoJson, ok};
use super::metrics::{Sample, expvar_json, prometheus_text};
use crate::notify::{HUB_STATES, PublisherStats};

/// The admin router.
pub(crate) fn router(state: Shared) -> Router {
    // With `admin.auth` set, everything but the probes and the token endpoint
    // needs an admin token.
    let mut router = Router::new()
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            super::auth::admin_guard,
        ))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(super::auth::token_route(super::auth::admin_token));
    let custom = state.settings.server.health_check_path.as_str();
    if custom.starts_with('/') && !matches!(custom, "/health" | "/ready" | "/info" | "/metrics") {
        router = router.route(custom, get(health));
    }
    router.with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `{"status":"ok"}` while the process serves.
pub(crate) async fn health() -> Response {
    ok(Health { status: "ok" })
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `{"status":"ready"}`, or 503 `{"status":"not ready","reason":…}` while the
/// notification hub is undecided or Redis unreachable (see the module docs).
async fn ready(State(state): State<Shared>) -> Response {
    match state.hub.readiness().not_ready {
        None => ok(Ready {
            status: "ready",
            reason: None,
        }),
        Some(reason) => GoJson(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Ready {
                status: "not ready",
                reason: Some(reason),
            },
        )
        .into_response(),
    }
}

/// The hub part of `/info`.
#[derive(Serialize)]
struct HubInfo {
    state: &'static str,
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Info<'a> {
    version: &'static str,
    author: &'a str,
    app_name: &'a str,
    uptime: String,
    host: String,
    notification_hub: &'static str,
    hub: HubInfo,
    datafiles: Vec<Datafile>,
}

#[derive(Serialize)]
struct Datafile {
    sdk_key: String,
    revision: String,
}

async fn info(State(state): State<Shared>) -> Response {
    let uptime = std::time::Duration::from_secs(state.started.elapsed().as_secs());
    let include_keys = state.settings.log.include_sdk_key;
    let readiness = state.hub.readiness();
    ok(Info {
        version: env!("CARGO_PKG_VERSION"),
        author: &state.settings.author,
        app_name: &state.settings.name,
        uptime: humantime::format_duration(uptime).to_string(),
        host: hostname(),
        notification_hub: readiness.state,
        hub: HubInfo {
            state: readiness.state,
            ready: readiness.not_ready.is_none(),
            reason: readiness.not_ready,
        },
        datafiles: state
            .projects
            .loaded()
            .into_iter()
            .map(|(sdk_key, revision)| Datafile {
                sdk_key: if include_keys {
                    sdk_key
                } else {
                    "<hidden>".to_owned()
                },
                revision,
            })
            .collect(),
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// The samples of a Redis hub's publisher, named `<prefix>.<what>`.
fn publisher_samples(out: &mut Vec<Sample>, prefix: &str, stats: &PublisherStats) {
    for (name, help, value) in [
        ("published", "Notifications Redis accepted", stats.published),
        ("batches", "Pipelines Redis accepted", stats.batches),
        (
            "dropped",
            "Notifications dropped: buffer full while Redis was unreachable, or unsent at \
             shutdown",
            stats.dropped,
        ),
        (
            "publish_errors",
            "Pipelines Redis did not accept in whole or in part (what failed was retried)",
            stats.errors,
        ),
        (
            "deduplicated",
            "Notifications found already stored after a pipeline got no reply (not resent)",
            stats.deduplicated,
        ),
        (
            "unverified_resends",
            "Notifications resent after a pipeline got no reply without proof they were not \
             stored: possible duplicates",
            stats.unverified,
        ),
    ] {
        out.push(Sample::counter(format!("{prefix}.{name}"), help, value));
    }
    out.push(Sample::gauge(
        format!("{prefix}.buffered"),
        "Notifications waiting to be published",
        stats.buffered as f64,
    ));
    out.push(Sample::histogram(
        format!("{prefix}.batch_size"),
        "Notifications per pipeline Redis accepted",
        stats.batch_sizes.clone(),
    ));
    out.push(Sample::histogram(
        format!("{prefix}.publish_latency_seconds"),
        "Seconds from a notification's hand-off to the hub until Redis accepted it",
        stats.latency.clone(),
    ));
}

/// Every sample of the process, read now.
fn samples(state: &Shared) -> Vec<Sample> {
    let mut out = state.metrics.samples();
    let hub = state.hub.stats();
    let current = state.hub.name();
    for hub_state in HUB_STATES {
        out.push(
            Sample::gauge(
                "hub.state",
                "1 for the notification hub's state now (undecided until Redis answers)",
                if hub_state == current { 1.0 } else { 0.0 },
            )
            .label("state", hub_state),
        );
    }
    out.push(Sample::gauge(
        "hub.undecided.buffered",
        "Notifications waiting for the Redis transport to be chosen",
        hub.undecided.buffered as f64,
    ));
    out.push(Sample::counter(
        "hub.undecided.dropped",
        "Notifications dropped before the Redis transport was chosen (buffer full, or shut \
         down first)",
        hub.undecided.dropped,
    ));
    out.push(Sample::counter(
        "notifications.delivered",
        "Notifications written to SSE subscribers",
        hub.fanout.delivered,
    ));
    out.push(Sample::counter(
        "sse.overflow.disconnects",
        "SSE subscribers disconnected for falling behind (and unable to catch up)",
        hub.fanout.overflowed,
    ));
    out.push(Sample::counter(
        "sse.catch_ups",
        "Times an SSE subscriber fell behind the live feed and caught up from the Redis \
         stream instead of being disconnected",
        hub.fanout.catch_ups,
    ));
    out.push(Sample::counter(
        "sse.caught_up",
        "Notifications read back from the Redis stream for catching-up SSE subscribers",
        hub.fanout.caught_up,
    ));
    out.push(
        Sample::gauge(
            "sse.subscribers",
            "Open notification streams, by the hub carrying them",
            hub.fanout.subscribers as f64,
        )
        .label("hub", current),
    );
    if let Some(streams) = hub.streams {
        publisher_samples(&mut out, "redis_streams", &streams.publisher);
        for (name, help, value) in [
            (
                "redis_streams.read",
                "Entries read by this instance's readers",
                streams.read,
            ),
            (
                "redis_streams.decode_errors",
                "Stream entries that were not notifications (skipped)",
                streams.decode_errors,
            ),
            (
                "redis_streams.read_errors",
                "Failed stream reads (retried)",
                streams.read_errors,
            ),
            (
                "redis_streams.reconnects",
                "Connections of the publisher, readers and groups re-opened after breaking",
                streams.reconnects,
            ),
            (
                "redis_streams.replayed",
                "Entries replayed to resuming subscribers",
                streams.replayed,
            ),
            (
                "redis_streams.rollbacks",
                "Resumes from an id newer than the stream's last entry (writes lost in a fail-over)",
                streams.rollbacks,
            ),
            (
                "redis_streams.reader_rollbacks",
                "Readers that found entries they delivered gone from the stream after a \
                 reconnect (writes lost in a fail-over); their subscribers got reset",
                streams.reader_rollbacks,
            ),
            (
                "redis_streams.under_replicated",
                "Publish pipelines fewer replicas than wait_replicas acknowledged in \
                 wait_timeout (not retried)",
                streams.under_replicated,
            ),
            (
                "redis_streams.resumes_from_memory",
                "Resumes served whole from the readers' in-memory windows",
                streams.resumes_from_memory,
            ),
            (
                "redis_streams.resume_reads",
                "Stream reads made for resumes (concurrent resumes of one range share one)",
                streams.resume_reads,
            ),
        ] {
            out.push(Sample::counter(name, help, value));
        }
        out.push(Sample::gauge(
            "redis_streams.readers",
            "Stream readers running (one per SDK key with subscribers)",
            streams.readers as f64,
        ));
        let groups = streams.groups;
        for (name, help, value) in [
            (
                "redis_streams.groups.delivered",
                "Entries handed to durable group subscribers",
                groups.delivered,
            ),
            (
                "redis_streams.groups.acked",
                "Group entries acknowledged (written, filtered out or skipped)",
                groups.acked,
            ),
            (
                "redis_streams.groups.redelivered",
                "Group entries delivered again (own pending on reconnect, or claimed)",
                groups.redelivered,
            ),
            (
                "redis_streams.groups.claimed",
                "Group entries claimed from idle consumers (XAUTOCLAIM)",
                groups.claimed,
            ),
            (
                "redis_streams.groups.decode_errors",
                "Group entries that were not notifications (acknowledged, skipped)",
                groups.decode_errors,
            ),
            (
                "redis_streams.groups.filtered",
                "Group entries acknowledged unsent because the filter rejected them",
                groups.filtered,
            ),
            (
                "redis_streams.groups.errors",
                "Failed Redis operations of group subscriptions (retried)",
                groups.errors,
            ),
        ] {
            out.push(Sample::counter(name, help, value));
        }
        out.push(Sample::gauge(
            "redis_streams.groups.subscriptions",
            "Durable group subscriptions open now",
            groups.subscriptions as f64,
        ));
    }
    if let Some(pubsub) = hub.pubsub {
        publisher_samples(&mut out, "redis_pubsub", &pubsub.publisher);
        for (name, help, value) in [
            (
                "redis_pubsub.received",
                "Messages received on the subscription",
                pubsub.received,
            ),
            (
                "redis_pubsub.decode_errors",
                "Messages that were not notifications (skipped)",
                pubsub.decode_errors,
            ),
            (
                "redis_pubsub.reconnects",
                "Subscription and publishing connections re-established",
                pubsub.reconnects,
            ),
        ] {
            out.push(Sample::counter(name, help, value));
        }
    }
    let events = state.events.stats();
    for (name, help, value) in [
        (
            "events.queued",
            "Events accepted into the event queue",
            events.queued,
        ),
        (
            "events.sent",
            "Events delivered to client.eventURL",
            events.sent,
        ),
        (
            "events.batches",
            "Event batches delivered",
            events.batches_sent,
        ),
        (
            "events.failed",
            "Events whose batch failed every attempt",
            events.failed,
        ),
        (
            "events.dropped",
            "Events dropped because the queue was full",
            events.dropped,
        ),
        (
            "events.discarded",
            "Events discarded because client.eventURL is empty",
            events.discarded,
        ),
    ] {
        out.push(Sample::counter(name, help, value));
    }
    state.odp.samples(&mut out);
    out.push(Sample::gauge(
        "uptime.seconds",
        "Seconds since serve started",
        state.started.elapsed().as_secs_f64(),
    ));
    out
}

async fn metrics(State(state): State<Shared>) -> Response {
    let samples = samples(&state);
    // As upstream: Prometheus text only when asked for, expvar JSON otherwise.
    if state.settings.admin.metrics_type != "prometheus" {
        return ok(expvar_json(&samples));
    }
    match prometheus_text(samples) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
