//! Token authentication end to end (`api.auth`, `admin.auth`): the real binary,
//! real HTTP, secrets made by `agentctl generate-secret`, tokens issued by
//! `POST /oauth/token` and used on decide and on the SSE stream; expired tokens,
//! tokens for another SDK key, wrong secrets, a non-form body; the admin listener;
//! and a JWKS document served by the test with an RSA key made in the test,
//! rotated while the server runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::Agentctl;
use crate::harness::api::*;
use crate::harness::serve::{DEMO_KEY, REF_KEY, Reply, STEP_TIMEOUT, Serve, Sse, repo_root};

/// A client secret and its `secretHash`, from the real subcommand.
fn generated_secret() -> (String, String) {
    let run = Agentctl::new().run(&["generate-secret", "--json"]).ok();
    let out = run.json();
    (
        out["clientSecret"].as_str().unwrap().to_owned(),
        out["secretHash"].as_str().unwrap().to_owned(),
    )
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// An HS256 token with `claims`, signed with the base64 `secret`.
fn hs256(secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(&STANDARD.decode(secret).unwrap());
    jsonwebtoken::encode(&Header::default(), claims, &key).unwrap()
}

/// `POST {base}/oauth/token` with a form body.
async fn token_request(serve: &Serve, base: &str, form: &[(&str, &str)]) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    serve
        .send(
            serve
                .http()
                .post(format!("{base}/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
}

/// A token for `client_id`/`secret` from `{base}/oauth/token`.
async fn issued(serve: &Serve, base: &str, client_id: &str, secret: &str) -> String {
    let reply = token_request(
        serve,
        base,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    body["access_token"].as_str().unwrap().to_owned()
}

/// `POST /v1/decide?keys=feature_1` for `sdk_key` with `token` (if any).
async fn decide(serve: &Serve, sdk_key: &str, token: Option<&str>) -> Reply {
    let mut request = serve
        .http()
        .post(format!("{}/v1/decide?keys=feature_1", serve.api))
        .header("x-optimizely-sdk-key", sdk_key)
        .header("content-type", "application/json")
        .body(matjaz(&[]).to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    serve.send(request).await
}

/// The API listener's answer to a refused token: upstream's hand-made text.
fn refused(reply: &Reply, reason: &str) {
    assert_reply(
        reply,
        401,
        &format!("{{\"error\": \"unauthorized, \"reason\": \"{reason}\"}}\n"),
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn api_tokens_from_oauth_token_open_decide_and_the_stream_for_their_keys_only() {
    let (client_secret, secret_hash) = generated_secret();
    let (signing, _) = generated_secret();
    let (older, _) = generated_secret();
    let serve = Serve::start(&format!(
        "api:\n  auth:\n    ttl: 30m\n    hmacSecrets: [\"{signing}\", \"{older}\"]\n    \
         clients:\n      - id: consumer-1\n        secretHash: \"{secret_hash}\"\n        \
         sdkKeys: [{REF_KEY}]\n"
    ));
    let api = serve.api.clone();

    // Without a token: refused; the probe and the API description stay open.
    refused(&decide(&serve, REF_KEY, None).await, "empty token");
    let open = |path: &str| serve.send(serve.http().get(format!("{api}{path}")));
    assert_eq!(open("/health").await.status, 200);
    assert_eq!(open("/openapi.yaml").await.status, 200);

    // The token endpoint's refusals, upstream's statuses and bodies.
    let json_body = serve
        .send(
            serve
                .http()
                .post(format!("{api}/oauth/token"))
                .header("content-type", "application/json")
                .body(json!({"grant_type": "client_credentials"}).to_string()),
        )
        .await;
    assert_json(
        &json_body,
        415,
        json!({"error": "invalid_request",
               "error_description": "Content-Type header value must be application/x-www-form-urlencoded"}),
    );
    let wrong_secret = token_request(
        &serve,
        &api,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "consumer-1"),
            ("client_secret", &older),
        ],
    )
    .await;
    assert_json(
        &wrong_secret,
        401,
        json!({"error": "invalid_client", "error_description": "invalid client_id or client_secret"}),
    );
    let grant = token_request(&serve, &api, &[("grant_type", "password")]).await;
    assert_json(&grant, 400, json!({"error": "unsupported_grant_type"}));

    // An issued token opens decide for its SDK key, not for another one.
    let token = issued(&serve, &api, "consumer-1", &client_secret).await;
    assert!(!serve.stderr().contains(&token), "a token was logged");
    assert!(
        !serve.stderr().contains(&client_secret),
        "a secret was logged"
    );
    let ok = decide(&serve, REF_KEY, Some(&token)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["flagKey"], "feature_1");
    assert_json(
        &decide(&serve, DEMO_KEY, Some(&token)).await,
        401,
        json!({"error": "SDK key given in X-Optimizely-Sdk-Key header was not found in the SDK keys in this token's claims"}),
    );

    // Tokens signed with the second secret still pass (rotation); a foreign
    // secret, an expired token and a token without sdk_keys do not.
    let claims = json!({"sdk_keys": [REF_KEY], "exp": now() + 60});
    assert_eq!(
        decide(&serve, REF_KEY, Some(&hs256(&older, &claims)))
            .await
            .status,
        200
    );
    let (foreign, _) = generated_secret();
    refused(
        &decide(&serve, REF_KEY, Some(&hs256(&foreign, &claims))).await,
        "signature is invalid",
    );
    let expired = hs256(&signing, &json!({"sdk_keys": [REF_KEY], "exp": now() - 5}));
    refused(
        &decide(&serve, REF_KEY, Some(&expired)).await,
        "Token is expired",
    );
    let keyless = hs256(&signing, &json!({"exp": now() + 60}));
    assert_json(
        &decide(&serve, REF_KEY, Some(&keyless)).await,
        401,
        json!({"error": "invalid claims: sdk_keys not found, or have the wrong type"}),
    );

    // The SSE stream: the token in the query (as a browser's EventSource sends
    // it) opens the stream of a granted key, which then streams its decisions.
    let refused_stream = serve
        .send(
            serve
                .http()
                .get(format!(
                    "{api}/v1/notifications/event-stream?access_token={token}"
                ))
                .header("x-optimizely-sdk-key", DEMO_KEY),
        )
        .await;
    assert_eq!(refused_stream.status, 401, "{}", refused_stream.body);
    let no_token = serve.get("/v1/notifications/event-stream", REF_KEY).await;
    refused(&no_token, "empty token");
    let mut sse = Sse::open(&serve, REF_KEY, &format!("?access_token={token}"), None).await;
    assert_eq!(decide(&serve, REF_KEY, Some(&token)).await.status, 200);
    let event = tokio::time::timeout(STEP_TIMEOUT, sse.next_event())
        .await
        .expect("a decision on the stream");
    assert_eq!(event.json()["Type"], "flag");
}

#[tokio::test]
async fn the_admin_listener_needs_an_admin_token_except_for_probes() {
    let (client_secret, secret_hash) = generated_secret();
    let (admin_signing, _) = generated_secret();
    let (api_signing, _) = generated_secret();
    let serve = Serve::start(&format!(
        "admin:\n  auth:\n    ttl: 30m\n    hmacSecrets: [\"{admin_signing}\"]\n    \
         clients: [{{id: ops, secretHash: \"{secret_hash}\", sdkKeys: [{REF_KEY}]}}]\n\
         api:\n  auth:\n    ttl: 30m\n    hmacSecrets: [\"{api_signing}\"]\n    \
         clients: [{{id: ops, secretHash: \"{secret_hash}\", sdkKeys: [{REF_KEY}]}}]\n"
    ));
    let admin = serve.admin.clone();
    let get = |path: &str, token: Option<&str>| {
        let mut request = serve.http().get(format!("{admin}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        serve.send(request)
    };

    assert_eq!(get("/health", None).await.status, 200);
    assert_eq!(get("/ready", None).await.status, 200);
    let info = get("/info", None).await;
    assert_json(&info, 401, json!({"error": "empty token"}));
    assert_eq!(info.header("x-content-type-options"), Some("nosniff"));
    assert_json(
        &get("/metrics", None).await,
        401,
        json!({"error": "empty token"}),
    );

    // A token of the API listener is signed with another secret.
    let api_token = issued(&serve, &serve.api, "ops", &client_secret).await;
    assert_json(
        &get("/info", Some(&api_token)).await,
        401,
        json!({"error": "signature is invalid"}),
    );
    // A token signed with the admin secret but without the admin flag.
    let flagless = hs256(&admin_signing, &json!({"exp": now() + 60}));
    assert_json(
        &get("/info", Some(&flagless)).await,
        401,
        json!({"error": "admin flag not set"}),
    );

    let admin_token = issued(&serve, &admin, "ops", &client_secret).await;
    let info = get("/info", Some(&admin_token)).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["app_name"], "optimizely");
    assert_eq!(get("/metrics", Some(&admin_token)).await.status, 200);
    // An admin token grants no SDK key on the API listener.
    assert_eq!(
        decide(&serve, REF_KEY, Some(&admin_token)).await.status,
        401
    );
}

/// An RSA key made in the test: the signing key and its public JWK.
struct RsaKey {
    signing: EncodingKey,
    jwk: Value,
}

fn rsa_key(kid: &str) -> RsaKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    let b64 = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
    RsaKey {
        signing: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64(private.n()), "e": b64(private.e())}),
    }
}

fn rs256(key: &RsaKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.signing).unwrap()
}

/// Serves `/jwks.json` with whatever `document` holds at the time.
async fn jwks_server(document: Arc<Mutex<Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let document = document.lock().unwrap().clone();
            async move { axum::Json(document) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/jwks.json")
}

// Multi-threaded: the JWKS server runs on this runtime while `Serve::start` blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_check_tokens_and_a_rotated_key_set_is_picked_up() {
    let first = rsa_key("key-1");
    let second = rsa_key("key-2");
    let document = Arc::new(Mutex::new(json!({"keys": [first.jwk.clone()]})));
    let url = jwks_server(Arc::clone(&document)).await;
    let serve = Serve::start(&format!(
        "api:\n  auth:\n    jwksURL: {url}\n    jwksUpdateInterval: 1s\n"
    ));
    let claims = json!({"sdk_keys": [REF_KEY], "exp": now() + 600});
    let token_1 = rs256(&first, "key-1", &claims);
    let token_2 = rs256(&second, "key-2", &claims);

    assert_eq!(decide(&serve, REF_KEY, Some(&token_1)).await.status, 200);
    refused(
        &decide(&serve, REF_KEY, Some(&token_2)).await,
        "unable to find key \"key-2\"",
    );
    // Signed by the second key but claiming the first key's id.
    refused(
        &decide(&serve, REF_KEY, Some(&rs256(&second, "key-1", &claims))).await,
        "signature is invalid",
    );
    let expired = rs256(
        &first,
        "key-1",
        &json!({"sdk_keys": [REF_KEY], "exp": now() - 5}),
    );
    refused(
        &decide(&serve, REF_KEY, Some(&expired)).await,
        "Token is expired",
    );

    // Rotate: the document now holds only the second key.
    *document.lock().unwrap() = json!({"keys": [second.jwk.clone()]});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if decide(&serve, REF_KEY, Some(&token_2)).await.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated key set was not picked up:\n{}",
            serve.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    refused(
        &decide(&serve, REF_KEY, Some(&token_1)).await,
        "unable to find key \"key-1\"",
    );
}

#[test]
fn serve_does_not_start_when_the_jwks_url_gives_no_key_set() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", hole.local_addr().unwrap());
    drop(hole);
    let runner = Agentctl::new();
    let config = runner.cwd().join("auth.yaml");
    std::fs::write(
        &config,
        format!("api:\n  auth:\n    jwksURL: {url}\n    jwksUpdateInterval: 1m\n"),
    )
    .unwrap();
    let datafiles = repo_root().join("datafiles");
    let run = runner.run(&[
        "--config",
        config.to_str().unwrap(),
        "serve",
        "--datafiles",
        datafiles.to_str().unwrap(),
        "--api-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--webhook-addr",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "api.auth.jwksURL: cannot fetch the JWKS document {url}"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_with_verify_passes_a_token_on_requests_and_streams() {
    let (client_secret, secret_hash) = generated_secret();
    let (signing, _) = generated_secret();
    let serve = Serve::start(&format!(
        "api:\n  auth:\n    ttl: 30m\n    hmacSecrets: [\"{signing}\"]\n    \
         clients: [{{id: loadgen, secretHash: \"{secret_hash}\", sdkKeys: [{DEMO_KEY}]}}]\n"
    ));
    let token = issued(&serve, &serve.api, "loadgen", &client_secret).await;
    let burst = |extra: &[&str]| {
        let mut args = vec![
            "burst",
            "--url",
            serve.api.as_str(),
            "--sdk-key",
            DEMO_KEY,
            "--flags",
            "promo_banner",
            "--requests",
            "10",
            "--verify",
            "--json",
        ];
        args.extend_from_slice(extra);
        Agentctl::new().run(&args)
    };
    let bearer = format!("Authorization: Bearer {token}");
    let run = tokio::task::block_in_place(|| burst(&["--header", &bearer]));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["verify"]["lost"], 0, "{report}");
    // Without the token the stream is refused before any request is sent.
    let run = tokio::task::block_in_place(|| burst(&[]));
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
}
