//! The tracing section of the settings tree (`tracing.*`): OpenTelemetry spans of
//! `serve`'s API requests, written to a file (`stdout` exporter, as upstream names
//! it) or sent to an OTLP collector (`remote`).
//!
//! Every `Default` impl here is the single place where a default value is written;
//! the defaults are upstream's.

use serde::{Deserialize, Serialize};

/// Tracing (`tracing.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct TracingSettings {
    /// Record spans at all; off, `serve` creates none (`enabled`).
    pub enabled: bool,
    /// The OpenTelemetry exporter and resource (`opentelemetry`).
    pub opentelemetry: OpenTelemetrySettings,
}

/// The OpenTelemetry exporter and resource (`tracing.opentelemetry.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct OpenTelemetrySettings {
    /// Which exporter: `stdout` (the file in `services.stdout.filename`) or
    /// `remote` (OTLP to `services.remote.endpoint`); lowercased by validation.
    pub default: String,
    /// The `service.name` resource attribute (`serviceName`).
    #[serde(rename = "servicename")]
    pub service_name: String,
    /// The `deployment.environment` resource attribute (`env`).
    pub env: String,
    /// The exporters' own settings (`services`).
    pub services: TracingServices,
}

impl Default for OpenTelemetrySettings {
    fn default() -> Self {
        OpenTelemetrySettings {
            default: "stdout".to_owned(),
            service_name: "optimizely-agent".to_owned(),
            env: "dev".to_owned(),
            services: TracingServices::default(),
        }
    }
}

/// The exporters' settings (`tracing.opentelemetry.services.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct TracingServices {
    /// The `stdout` exporter (`stdout`).
    pub stdout: StdoutTraceSettings,
    /// The `remote` exporter (`remote`).
    pub remote: RemoteTraceSettings,
}

/// The `stdout` exporter (`tracing.opentelemetry.services.stdout.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct StdoutTraceSettings {
    /// The file spans are written to, created (truncated) at start; `""` writes them
    /// to standard output (`filename`).
    pub filename: String,
}

impl Default for StdoutTraceSettings {
    fn default() -> Self {
        StdoutTraceSettings {
            filename: "trace.out".to_owned(),
        }
    }
}

/// The `remote` exporter (`tracing.opentelemetry.services.remote.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RemoteTraceSettings {
    /// The collector: `host:port` as upstream writes it, or a full `http(s)://`
    /// URL (`endpoint`).
    pub endpoint: String,
    /// OTLP transport: `grpc` or `http` (protobuf over HTTP); lowercased by
    /// validation (`protocol`).
    pub protocol: String,
    /// Fraction of requests traced, from 0 to 1, decided per trace id; a request
    /// with a `traceparent` header follows its caller's decision instead, and the
    /// `stdout` exporter records every request, as upstream (`sampleRate`).
    #[serde(rename = "samplerate")]
    pub sample_rate: f64,
}

impl Default for RemoteTraceSettings {
    fn default() -> Self {
        RemoteTraceSettings {
            endpoint: "localhost:4317".to_owned(),
            protocol: "grpc".to_owned(),
            sample_rate: 1.0,
        }
    }
}

/// The OTLP path of spans over HTTP, appended to an endpoint without a path.
const HTTP_TRACES_PATH: &str = "/v1/traces";

impl RemoteTraceSettings {
    /// The collector URL the exporter sends to. Upstream writes the endpoint as
    /// `host:port` and connects without TLS: that becomes `http://host:port`. With
    /// protocol `http`, an endpoint without a path gets OTLP's `/v1/traces`.
    /// `protocol` must already be lowercased (validation does it).
    ///
    /// # Errors
    ///
    /// Why the endpoint cannot be a collector URL.
    pub fn url(&self) -> Result<String, String> {
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() {
            return Err("it is empty".to_owned());
        }
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("http://{endpoint}")
        };
        let mut url = reqwest::Url::parse(&with_scheme).map_err(|err| err.to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme {:?} is not http or https", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("it names no host".to_owned());
        }
        if self.protocol == "http" && url.path() == "/" {
            url.set_path(HTTP_TRACES_PATH);
        }
        let mut text = String::from(url);
        if self.protocol != "http" && url_has_bare_root(&text) {
            // gRPC addresses a service, not a path: no trailing slash.
            text.pop();
        }
        Ok(text)
    }
}

/// Whether `url` ends in the `/` that URL parsing adds to an empty path.
fn url_has_bare_root(url: &str) -> bool {
    url.ends_with('/') && url.matches('/').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_urls_are_built_as_upstream_writes_endpoints() {
        let url = |endpoint: &str, protocol: &str| {
            RemoteTraceSettings {
                endpoint: endpoint.to_owned(),
                protocol: protocol.to_owned(),
                sample_rate: 1.0,
            }
            .url()
        };
        let ok = |s: &str| Ok(s.to_owned());
        assert_eq!(url("localhost:4317", "grpc"), ok("http://localhost:4317"));
        assert_eq!(
            url("collector:4318", "http"),
            ok("http://collector:4318/v1/traces")
        );
        assert_eq!(
            url("https://otel.example.com/custom/path", "http"),
            ok("https://otel.example.com/custom/path")
        );
        assert_eq!(
            url("https://otel.example.com:4317/", "grpc"),
            ok("https://otel.example.com:4317")
        );
        assert_eq!(url(" ", "grpc"), Err("it is empty".to_owned()));
        assert_eq!(
            url("ftp://x:1", "http"),
            Err("scheme \"ftp\" is not http or https".to_owned())
        );
        assert!(url("http://", "http").is_err());
    }
}
