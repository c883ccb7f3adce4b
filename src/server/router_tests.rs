//! Router-level tests of the API's error answers: each request goes through the
//! whole `/v1` middleware stack with `tower::ServiceExt::oneshot`, no socket.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{ApiService, MAX_BODY_BYTES, ServeOptions, Server, api_router};
use crate::config::Settings;

/// The SDK key of `datafiles/demo.json`.
const DEMO: &str = "demo";

/// A bound (never run) server whose API router answers from the demo datafile;
/// nothing is fetched over the network and no event is sent.
async fn router(tune: impl FnOnce(&mut Settings)) -> ApiService {
    let mut settings = Settings::default();
    settings.client.event_url = String::new();
    settings.client.datafile_url_template = "file:///nonexistent/agentctl/%s.json".to_owned();
    tune(&mut settings);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let options = ServeOptions {
        api: any,
        admin: any,
        webhook: any,
        datafiles: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datafiles"),
    };
    let server = Server::bind(settings, options).await.unwrap();
    api_router(std::sync::Arc::clone(&server.state))
}

/// A POST of `body` as JSON to `uri` for `sdk_key` (`None`: no header).
fn post(uri: &str, sdk_key: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(uri)
        .header("host", "localhost")
        .header("content-type", "application/json");
    if let Some(key) = sdk_key {
        request = request.header("x-optimizely-sdk-key", key);
    }
    request.body(body.into()).unwrap()
}

/// Status and body text of `request`'s answer.
async fn answer(router: &ApiService, request: Request<Body>) -> (StatusCode, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn json_error(status: u16, message: &str) -> (StatusCode, String) {
    (
        StatusCode::from_u16(status).unwrap(),
        format!("{}\n", serde_json::json!({ "error": message })),
    )
}

#[tokio::test]
async fn sdk_key_errors() {
    let router = router(|_| {}).await;
    assert_eq!(
        answer(&router, post("/v1/decide", None, "{}")).await,
        json_error(400, "missing required X-Optimizely-SDK-Key header")
    );
    assert_eq!(
        answer(&router, post("/v1/decide", Some("not a key!"), "{}")).await,
        json_error(400, "sdkKey failed validation")
    );
    assert_eq!(
        answer(&router, post("/v1/decide", Some("nosuchkey"), "{}")).await,
        json_error(
            403,
            "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden"
        )
    );
}

#[tokio::test]
async fn body_errors() {
    let router = router(|_| {}).await;
    assert_eq!(
        answer(&router, post("/v1/decide", Some(DEMO), "{")).await,
        json_error(400, "error parsing request body")
    );
    let oversize = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        answer(&router, post("/v1/decide", Some(DEMO), oversize)).await,
        json_error(
            413,
            &format!("request body is larger than {MAX_BODY_BYTES} bytes")
        )
    );
    let text = Request::post("/v1/decide")
        .header("host", "localhost")
        .header("content-type", "text/plain")
        .header("content-length", "2")
        .header("x-optimizely-sdk-key", DEMO)
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        answer(&router, text).await,
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new())
    );
    assert_eq!(
        answer(&router, post("/v1/decide", Some(DEMO), "{}")).await,
        json_error(400, "missing \"userId\" in request payload")
    );
}

#[tokio::test]
async fn request_errors() {
    let router = router(|settings| settings.server.batch_requests.operations_limit = 1).await;
    let mut elsewhere = post("/v1/decide", Some(DEMO), "{}");
    elsewhere
        .headers_mut()
        .insert("host", "evil.example".parse().unwrap());
    assert_eq!(
        answer(&router, elsewhere).await,
        json_error(404, "invalid request host")
    );
    assert_eq!(
        answer(
            &router,
            post(
                "/v1/decide",
                Some(DEMO),
                r#"{"userId":"u","decideOptions":["NOPE"]}"#
            )
        )
        .await,
        json_error(400, "invalid option: NOPE")
    );
    assert_eq!(
        answer(
            &router,
            post("/v1/activate?type=nope", Some(DEMO), r#"{"userId":"u"}"#)
        )
        .await,
        json_error(400, "type \"nope\" not supported")
    );
    assert_eq!(
        answer(&router, post("/v1/override", Some(DEMO), "{}")).await,
        (StatusCode::FORBIDDEN, "Overrides not enabled\n".to_owned())
    );
    let two = r#"{"operations":[{"method":"GET","url":"/v1/config"},{"method":"GET","url":"/v1/config"}]}"#;
    assert_eq!(
        answer(&router, post("/v1/batch", None, two)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "{\"error\": \"too many operations, exceeding 1 operations\"}\n".to_owned()
        )
    );
    assert_eq!(
        answer(&router, post("/v1/batch", None, "[]")).await,
        (
            StatusCode::BAD_REQUEST,
            "{\"error\": \"cannot decode the operation body\"}\n".to_owned()
        )
    );
}
