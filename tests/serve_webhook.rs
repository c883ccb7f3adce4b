//! The datafile webhook (signatures, refresh) and polling for a new revision.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::harness::api::*;
use crate::harness::serve::{DEMO_KEY, Serve, Sse};

const WEBHOOK: &str = r#"
webhook:
  projects:
    20000001:
      sdkKeys: [demo]
      secret: "s3cret"
"#;

/// `sha1=<hex HMAC-SHA1 of body>`, as the webhook's sender signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A webhook payload sent `offset` seconds after now (calls must be recent and
/// each signature is accepted once: `webhook.replayWindow`).
pub fn webhook_body_at(project_id: i64, offset: i64) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::to_vec(&json!({
        "project_id": project_id,
        "timestamp": i64::try_from(now).unwrap() + offset,
        "event": "project.datafile_updated",
        "data": {"revision": 2, "origin_url": "", "cdn_url": "", "environment": "Production"}
    }))
    .unwrap()
}

fn webhook_body(project_id: i64) -> Vec<u8> {
    webhook_body_at(project_id, 0)
}

#[tokio::test]
async fn webhook_checks_signatures_and_refreshes_the_datafile() {
    let serve = Serve::start(WEBHOOK);
    let url = format!("{}/webhooks/optimizely", serve.webhook);
    let post = |body: Vec<u8>, content_type: &str, signature: Option<String>| {
        let mut request = serve
            .http()
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature", signature);
        }
        serve.send(request)
    };
    let body = webhook_body(20000001);

    let reply = post(body.clone(), "application/json", Some(sign("wrong", &body))).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Computed signature does not match signature in request. Ignoring message.\"}\n",
    );
    let reply = post(body.clone(), "application/json", None).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Computed signature does not match signature in request. Ignoring message.\"}\n",
    );
    let reply = post(webhook_body(999), "application/json", None).await;
    assert_reply(&reply, 204, "");
    let reply = post(b"{not json".to_vec(), "application/json", None).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Unable to parse webhook message.\"}\n",
    );
    let reply = post(body.clone(), "text/plain", Some(sign("s3cret", &body))).await;
    assert_reply(&reply, 415, "");

    // A good call re-reads the datafile; a new revision is announced and served.
    let mut updates = Sse::open(&serve, DEMO_KEY, "?filter=decision,datafile-update", None).await;
    let path = serve.datafiles().join("demo.json");
    let mut datafile: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "1"
    );
    datafile["revision"] = json!("2");
    std::fs::write(&path, serde_json::to_vec_pretty(&datafile).unwrap()).unwrap();
    let reply = post(
        body.clone(),
        "application/json",
        Some(sign("s3cret", &body)),
    )
    .await;
    assert_reply(&reply, 204, "");
    let event = updates.next_event().await;
    assert_eq!(
        event.data,
        r#"{"Type":"datafile-update","Revision":"2","ProjectId":"20000001"}"#
    );
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "2"
    );

    // The same revision again (a new call): no announcement (the next event is a
    // decision).
    let again = webhook_body_at(20000001, 1);
    let reply = post(
        again.clone(),
        "application/json",
        Some(sign("s3cret", &again)),
    )
    .await;
    assert_reply(&reply, 204, "");
    serve
        .post(
            "/v1/decide?keys=checkout",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    assert_eq!(updates.next_event().await.json()["Type"], "flag");
}

#[tokio::test]
async fn polling_picks_up_a_new_revision() {
    let serve = Serve::start("client: {pollingInterval: 50ms}");
    let mut updates = Sse::open(&serve, DEMO_KEY, "?filter=datafile-update", None).await;
    let path = serve.datafiles().join("demo.json");
    let mut datafile: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    datafile["revision"] = json!("7");
    // Written aside and renamed, so a poll never reads half a file.
    let staged = serve.datafiles().join("demo.json.new");
    std::fs::write(&staged, serde_json::to_vec(&datafile).unwrap()).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    assert_eq!(
        updates.next_event().await.data,
        r#"{"Type":"datafile-update","Revision":"7","ProjectId":"20000001"}"#
    );
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "7"
    );
}
