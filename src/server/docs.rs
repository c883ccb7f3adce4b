//! What the API listener answers outside its routes: `GET /` (a small page
//! describing the API), `GET /openapi.yaml` (this service's own OpenAPI document,
//! `docs/openapi.yaml`, built into the binary) and 404 for every other path, as
//! upstream's file server answers.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, Shared};

/// The OpenAPI document of the routes this service has.
pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// Where the OpenAPI document is served.
const OPENAPI_PATH: &str = "/openapi.yaml";

/// The description page: what the service is and where its document is.
const INDEX_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>agentctl serve API</title></head>
<body>
<h1>agentctl serve</h1>
<p>An Agent-compatible feature-flag decision service. Send the SDK key in the
<code>X-Optimizely-SDK-Key</code> header of every <code>/v1/*</code> request.</p>
<ul>
<li><code>POST /v1/decide</code>, <code>/v1/activate</code>, <code>/v1/track</code></li>
<li><code>GET /v1/config</code>, <code>/v1/datafile</code></li>
<li><code>POST /v1/override</code>, <code>/v1/lookup</code>, <code>/v1/save</code>, <code>/v1/reset</code></li>
<li><code>POST /v1/batch</code>, <code>/v1/send-odp-event</code></li>
<li><code>GET /v1/notifications/event-stream</code> (Server-Sent Events)</li>
<li><code>POST /oauth/token</code> (access tokens, when token authentication is on)</li>
</ul>
<p>The full description: <a href="/openapi.yaml">openapi.yaml</a> (OpenAPI 3).</p>
</body>
</html>
"#;

/// `GET /` and `GET /openapi.yaml`.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route(OPENAPI_PATH, get(openapi))
}

async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        OPENAPI_YAML,
    )
        .into_response()
}

/// Every path the API listener has no route for.
pub(super) async fn not_found() -> ApiError {
    ApiError::UnknownPath
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_yaml_covering_every_route() {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(OPENAPI_YAML).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths: Vec<&str> = doc["paths"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        for route in [
            "/",
            OPENAPI_PATH,
            "/health",
            "/v1/decide",
            "/v1/activate",
            "/v1/track",
            "/v1/config",
            "/v1/datafile",
            "/v1/override",
            "/v1/lookup",
            "/v1/save",
            "/v1/reset",
            "/v1/batch",
            "/v1/send-odp-event",
            crate::wire::EVENT_STREAM_PATH,
            super::super::auth::TOKEN_PATH,
        ] {
            assert!(paths.contains(&route), "{route} is not documented");
        }
        assert_eq!(paths.len(), 16, "{paths:?}");
        // Every reference points at a component that exists.
        let text = OPENAPI_YAML;
        for reference in text.split("'#/components/").skip(1) {
            let target = reference.split('\'').next().unwrap();
            let mut node = &doc["components"];
            for part in target.split('/') {
                node = &node[part];
            }
            assert!(!node.is_null(), "dangling reference #/components/{target}");
        }
    }
}
