//! Shared user profile services against real stand-ins: two `serve` instances on one
//! `redis-server` keep a user's variation after a traffic change (and the Redis key
//! holds upstream's JSON), and a REST service started by the test sees upstream's
//! lookup and save requests. A service that fails never fails a decision.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve, ServeBuilder, repo_root};
use crate::harness::{RedisServer, free_port};

/// The project both instances serve, under its own SDK key.
const FLEET_KEY: &str = "upsfleet";
/// `feature_2_test` and its variations in the reference datafile.
const EXPERIMENT: &str = "16910084756";
const VARIATION_1: &str = "16925360560";
const VARIATION_2: &str = "16915611472";

/// The reference datafile; with `revised`, `feature_2_test` sends all its traffic to
/// `variation_2` instead of `variation_1`.
fn datafile(revised: bool) -> String {
    let path = repo_root().join(format!("tests/data/datafiles/{REF_KEY}.json"));
    let mut datafile: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if revised {
        let experiment = datafile["experiments"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["id"] == EXPERIMENT)
            .unwrap();
        experiment["trafficAllocation"] = json!([{"endOfRange": 10000, "entityId": VARIATION_2}]);
        datafile["revision"] = json!("140");
    }
    datafile.to_string()
}

/// A server whose `upsfleet` project is the given datafile revision.
fn start_with_datafile(builder: ServeBuilder, revised: bool) -> Serve {
    let dir = builder.cwd().join("test-datafiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{FLEET_KEY}.json")), datafile(revised)).unwrap();
    builder.start()
}

fn redis_ups(redis: &RedisServer) -> String {
    format!(
        "client: {{userProfileService: {{default: redis, services: {{redis: {{host: \"{}\", database: 3}}}}}}}}",
        redis.addr()
    )
}

/// Runs one command in database 3 (the one the Redis UPS is configured with).
fn in_db3<T: redis::FromRedisValue>(redis: &RedisServer, args: &[&str]) -> T {
    let mut conn = redis::Client::open(format!("{}3", redis.url()))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut conn).unwrap()
}

async fn variation(serve: &Serve, user: &Value) -> Value {
    let reply = serve
        .post("/v1/decide?keys=feature_2", FLEET_KEY, user)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[tokio::test]
async fn two_instances_on_one_redis_keep_a_user_sticky_after_a_traffic_change() {
    let redis = RedisServer::start();
    let a = start_with_datafile(Serve::builder().config(&redis_ups(&redis)), false);
    let b = start_with_datafile(Serve::builder().config(&redis_ups(&redis)), true);

    let first = variation(&a, &matjaz(&[])).await;
    assert_eq!(first["variationKey"], "variation_1");
    // Upstream's layout: the user id is the key, in the configured database.
    let stored: String = in_db3(&redis, &["GET", "matjaz"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        json!({EXPERIMENT: {"variation_id": VARIATION_1}})
    );

    // B's revision sends everyone to variation_2, but matjaz stays where A put him.
    let sticky = variation(&b, &matjaz(&["INCLUDE_REASONS"])).await;
    assert_eq!(sticky["variationKey"], "variation_1");
    assert_eq!(
        sticky["reasons"],
        json!([
            "User \"matjaz\" was previously bucketed into variation \"variation_1\" of experiment \"feature_2_test\"."
        ])
    );
    let ignored = variation(&b, &matjaz(&["IGNORE_USER_PROFILE_SERVICE"])).await;
    assert_eq!(ignored["variationKey"], "variation_2");
    let newcomer = json!({"userId": "newcomer", "userAttributes": {"attr_1": "hola"}});
    assert_eq!(
        variation(&b, &newcomer).await["variationKey"],
        "variation_2"
    );
    let stored: String = in_db3(&redis, &["GET", "newcomer"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        json!({EXPERIMENT: {"variation_id": VARIATION_2}})
    );

    // A profile written by another Agent is read, and /v1/lookup shows it.
    let _: () = in_db3(
        &redis,
        &[
            "SET",
            "written",
            &json!({EXPERIMENT: {"variation_id": VARIATION_2}}).to_string(),
        ],
    );
    let written = json!({"userId": "written", "userAttributes": {"attr_1": "hola"}});
    assert_eq!(variation(&a, &written).await["variationKey"], "variation_2");
    let reply = a
        .post("/v1/lookup", FLEET_KEY, &json!({"userId": "written"}))
        .await;
    assert_json(
        &reply,
        200,
        json!({"userId": "written", "experimentBucketMap": {EXPERIMENT: {"variation_id": VARIATION_2}}}),
    );
}

#[tokio::test]
async fn a_redis_that_is_down_never_fails_a_decision() {
    let serve = start_with_datafile(
        Serve::builder().config(&format!(
            "client: {{userProfileService: {{default: redis, services: {{redis: {{host: \"127.0.0.1:{}\", timeout: 500ms}}}}}}}}",
            free_port()
        )),
        false,
    );
    assert_eq!(
        variation(&serve, &matjaz(&[])).await["variationKey"],
        "variation_1"
    );
    let reply = serve
        .post("/v1/lookup", FLEET_KEY, &json!({"userId": "matjaz"}))
        .await;
    assert_json(
        &reply,
        200,
        json!({"userId": "matjaz", "experimentBucketMap": {}}),
    );
    assert!(
        serve.stderr().contains("user profile lookup failed"),
        "{}",
        serve.stderr()
    );
}

/// One request the REST stand-in received: path, the `X-Api-Key` header, body.
type Call = (String, Option<String>, Value);

/// A REST user profile service: remembers saved profiles, answers lookups with
/// them, and records every call.
async fn rest_stand_in() -> (std::net::SocketAddr, Arc<Mutex<Vec<Call>>>) {
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};

    #[derive(Clone, Default)]
    struct Service {
        calls: Arc<Mutex<Vec<Call>>>,
        profiles: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    }
    async fn handle(
        State(service): State<Service>,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        service
            .calls
            .lock()
            .unwrap()
            .push((uri.path().to_owned(), key, body.clone()));
        let user = body["user_id"].as_str().unwrap_or_default().to_owned();
        match uri.path() {
            "/ups/lookup" => {
                let profiles = service.profiles.lock().unwrap();
                match profiles.get(&user) {
                    Some(profile) => axum::Json(profile.clone()).into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
            "/ups/save" => {
                service.profiles.lock().unwrap().insert(user, body);
                axum::http::StatusCode::OK.into_response()
            }
            _ => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
    let service = Service::default();
    let calls = Arc::clone(&service.calls);
    let app = axum::Router::new().fallback(handle).with_state(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, calls)
}

#[tokio::test]
async fn a_rest_service_gets_upstreams_lookup_and_save_requests() {
    let (addr, calls) = rest_stand_in().await;
    let serve = start_with_datafile(
        Serve::builder().config(&format!(
            r#"
client:
  userProfileService:
    default: rest
    services:
      rest:
        host: "http://{addr}"
        lookupPath: /ups/lookup
        savePath: /ups/save
        headers: {{X-Api-Key: secret-1}}
        timeout: 2s
"#
        )),
        false,
    );
    // Unknown user: the lookup's 404 means no profile; the decision is saved.
    assert_eq!(
        variation(&serve, &matjaz(&[])).await["variationKey"],
        "variation_1"
    );
    let saved = json!({"user_id": "matjaz", "experiment_bucket_map": {EXPERIMENT: {"variation_id": VARIATION_1}}});
    let key = Some("secret-1".to_owned());
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            (
                "/ups/lookup".to_owned(),
                key.clone(),
                json!({"user_id": "matjaz"})
            ),
            ("/ups/save".to_owned(), key.clone(), saved.clone()),
        ]
    );
    calls.lock().unwrap().clear();
    // Known user: the saved profile is used and nothing changes, so no save.
    let again = variation(&serve, &matjaz(&["INCLUDE_REASONS"])).await;
    assert_eq!(
        again["reasons"],
        json!([
            "User \"matjaz\" was previously bucketed into variation \"variation_1\" of experiment \"feature_2_test\"."
        ])
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
    // /v1/save and /v1/lookup go through the service too.
    let profile = json!({"userId": "other", "experimentBucketMap": {EXPERIMENT: {"variation_id": VARIATION_2}}});
    let reply = serve.post("/v1/save", FLEET_KEY, &profile).await;
    assert_reply(&reply, 200, "");
    let reply = serve
        .post("/v1/lookup", FLEET_KEY, &json!({"userId": "other"}))
        .await;
    assert_json(&reply, 200, profile);
}

#[tokio::test]
async fn a_rest_service_that_is_down_never_fails_a_decision() {
    let serve = start_with_datafile(
        Serve::builder().config(&format!(
            "client: {{userProfileService: {{default: rest, services: {{rest: {{host: \"http://127.0.0.1:{}\", lookupPath: /l, savePath: /s, timeout: 1s}}}}}}}}",
            free_port()
        )),
        false,
    );
    assert_eq!(
        variation(&serve, &matjaz(&[])).await["variationKey"],
        "variation_1"
    );
}
