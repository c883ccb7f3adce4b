//! OpenTelemetry spans of `serve` (`tracing.*`): the tracer provider and its
//! exporter, the `tracing` layer that turns spans of target [`TARGET`] into
//! OpenTelemetry spans, and the bounded flush at shutdown.
//!
//! The code writes spans with the `tracing` macros and `target: TARGET`. When
//! `tracing.enabled` is false no layer listens to that target (the log filter names
//! `agentctl` targets only), so each span site costs one cached "disabled" check:
//! no span is created and no field is evaluated. When it is true, only this
//! target reaches the OpenTelemetry layer, so log events never become span events
//! and these spans never clutter log lines.
//!
//! Exporters, as upstream names them: `stdout` writes each exported batch as one
//! line of OTLP/JSON (an `ExportTraceServiceRequest`, the format of the collector's
//! file exporter) to `services.stdout.filename` (standard output when `""`);
//! `remote` sends OTLP to a collector over gRPC or protobuf-over-HTTP, sampled by
//! trace id at `sampleRate`. Both batch in the SDK's exporter thread, off the
//! request path. This module must not import anything from `server` or `cmd`.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TracingSettings;
use crate::util::lock;

/// The `tracing` target of every span meant for OpenTelemetry. It must not start
/// with `agentctl`: the log filter (`agentctl=<level>`) would otherwise enable
/// these spans for the log output even with tracing off.
pub const TARGET: &str = "otel";

/// The instrumentation scope name of the spans.
const SCOPE: &str = "agentctl";

/// How long shutdown waits for the last spans to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one OTLP export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The `stdout` exporter's file cannot be created.
    #[error("tracing.opentelemetry.services.stdout.filename {path:?}: cannot create it: {source}")]
    File {
        /// The configured file name.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The OTLP exporter cannot be built for the configured endpoint.
    #[error("tracing.opentelemetry.services.remote.endpoint {endpoint:?}: {reason}")]
    Remote {
        /// The configured endpoint.
        endpoint: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// A running tracer provider: keep it for the life of the process and call
/// [`Telemetry::shutdown`] at the end, or the last spans are lost.
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// The runtime the gRPC channel's connection task runs on (the request
    /// runtime may be gone by the time the last spans are flushed).
    _grpc_runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Builds the provider and exporter `settings` describe (validated for
    /// `serve`). Call it outside any async runtime: the HTTP exporter's blocking
    /// client and the gRPC exporter's own runtime may not be created in one.
    ///
    /// # Errors
    ///
    /// [`TelemetryError`] when the span file cannot be created or the collector
    /// endpoint cannot be used.
    pub fn start(settings: &TracingSettings) -> Result<Telemetry, TelemetryError> {
        let otel = &settings.opentelemetry;
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", otel.service_name.clone()),
                KeyValue::new("deployment.environment", otel.env.clone()),
            ])
            .build();
        let builder = SdkTracerProvider::builder().with_resource(resource);
        let (builder, grpc_runtime) = if otel.default == "remote" {
            let remote = &otel.services.remote;
            let failed = |reason: String| TelemetryError::Remote {
                endpoint: remote.endpoint.clone(),
                reason,
            };
            let url = remote.url().map_err(&failed)?;
            let (exporter, runtime) = if remote.protocol == "http" {
                (http_exporter(&url).map_err(&failed)?, None)
            } else {
                let (exporter, runtime) = grpc_exporter(&url).map_err(&failed)?;
                (exporter, Some(runtime))
            };
            let sampler =
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(remote.sample_rate)));
            (
                builder.with_sampler(sampler).with_batch_exporter(exporter),
                runtime,
            )
        } else {
            let path = &otel.services.stdout.filename;
            let exporter =
                JsonLinesExporter::create(path).map_err(|source| TelemetryError::File {
                    path: path.clone(),
                    source,
                })?;
            (builder.with_batch_exporter(exporter), None)
        };
        Ok(Telemetry {
            provider: builder.build(),
            _grpc_runtime: grpc_runtime,
        })
    }

    /// The `tracing` layer that records spans of target [`TARGET`] (and nothing
    /// else) as OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SCOPE))
            .with_location(false)
            .with_threads(false)
            .with_level(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(|meta| meta.is_span() && meta.target() == TARGET))
    }

    /// Exports the spans still queued and stops the exporter, waiting at most a
    /// few seconds; a failure is logged (the process is ending anyway).
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!("flushing the last trace spans: {err}");
        }
    }
}

/// The OTLP/HTTP (protobuf) exporter posting to `url`, through a blocking reqwest
/// client: the SDK's batch thread drives exports without an async runtime.
fn http_exporter(url: &str) -> Result<opentelemetry_otlp::SpanExporter, String> {
    crate::util::ensure_tls_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| crate::util::error_chain(&err))?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| err.to_string())
}

/// The OTLP/gRPC exporter for `url`, with the one-thread runtime its channel's
/// connection task lives on (the channel is created inside it).
fn grpc_exporter(
    url: &str,
) -> Result<(opentelemetry_otlp::SpanExporter, tokio::runtime::Runtime), String> {
    use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
    crate::util::ensure_tls_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-grpc")
        .enable_all()
        .build()
        .map_err(|err| format!("starting the exporter's runtime: {err}"))?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT);
    if url.starts_with("https://") {
        builder = builder.with_tls_config(ClientTlsConfig::new().with_webpki_roots());
    }
    let exporter = runtime
        .block_on(async { builder.build() })
        .map_err(|err| err.to_string())?;
    Ok((exporter, runtime))
}

/// The `stdout` exporter: each batch as one line of OTLP/JSON, to a file or to
/// standard output.
struct JsonLinesExporter {
    out: Mutex<Box<dyn Write + Send>>,
    resource: ResourceAttributesWithSchema,
}

impl std::fmt::Debug for JsonLinesExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesExporter").finish_non_exhaustive()
    }
}

impl JsonLinesExporter {
    /// Writes to `path`, created or truncated now, as upstream does; `""` is
    /// standard output.
    fn create(path: &str) -> io::Result<JsonLinesExporter> {
        let out: Box<dyn Write + Send> = if path.is_empty() {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path)?)
        };
        Ok(JsonLinesExporter {
            out: Mutex::new(out),
            resource: ResourceAttributesWithSchema::default(),
        })
    }

    fn write(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let mut line = serde_json::to_vec(&request)
            .map_err(|err| OTelSdkError::InternalFailure(err.to_string()))?;
        line.push(b'\n');
        let mut out = lock(&self.out);
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|err| OTelSdkError::InternalFailure(format!("writing spans: {err}")))
    }
}

impl SpanExporter for JsonLinesExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.write(batch))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// A short, stable stand-in for an SDK key in span attributes (the key itself is
/// a credential of sorts): the first 16 hex digits of its SHA-1.
pub fn sdk_key_hash(sdk_key: &str) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(sdk_key.as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn sdk_keys_are_hashed_not_shown() {
        let hash = sdk_key_hash("my-secret-sdk-key");
        assert_eq!(hash.len(), 16);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hash, sdk_key_hash("my-secret-sdk-key"));
        assert_ne!(hash, sdk_key_hash("another-key"));
    }

    #[test]
    fn an_unwritable_span_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = TracingSettings {
            enabled: true,
            ..TracingSettings::default()
        };
        settings.opentelemetry.services.stdout.filename = dir
            .path()
            .join("missing/trace.out")
            .to_string_lossy()
            .into_owned();
        let err = Telemetry::start(&settings).err().unwrap().to_string();
        assert!(
            err.starts_with("tracing.opentelemetry.services.stdout.filename"),
            "{err}"
        );
        assert!(err.contains("cannot create it"), "{err}");
    }
}
