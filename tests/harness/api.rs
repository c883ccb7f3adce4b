//! Helpers of the `serve` API tests: reply assertions, the table-driven request
//! [`Case`]s, and the reference user and decisions of `reference/decision-facts.md`.

use serde_json::{Value, json};

use super::free_port;
use super::serve::{Reply, Serve};

/// The reference user of decision-facts §4.10.
pub fn matjaz(options: &[&str]) -> Value {
    json!({"userId": "matjaz", "userAttributes": {"attr_1": "hola"}, "decideOptions": options})
}

/// A config whose CMAB prediction endpoint is a closed local port and which does
/// not retry, so `cmab_flag` fails at once (no network).
pub fn offline_cmab() -> String {
    format!(
        r#"
client:
  cmab:
    predictionEndpoint: "http://127.0.0.1:{}/predict/%s"
    requestTimeout: 2s
    retryConfig:
      maxRetries: 0
"#,
        free_port()
    )
}

/// Asserts a JSON reply: status, content type, trailing newline and parsed body.
#[track_caller]
pub fn assert_json(reply: &Reply, status: u16, body: Value) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply.body.ends_with("}\n") || reply.body.ends_with("]\n"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.json(), body);
}

/// Asserts an exact status and body text.
#[track_caller]
pub fn assert_reply(reply: &Reply, status: u16, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
}

/// A decision object as upstream writes it for user matjaz.
pub fn decision(flag: &str, variation: &str, rule: &str, enabled: bool, reasons: &[&str]) -> Value {
    json!({
        "variationKey": variation,
        "enabled": enabled,
        "ruleKey": rule,
        "flagKey": flag,
        "userContext": {"userId": "matjaz", "attributes": {"attr_1": "hola"}},
        "reasons": reasons,
        "isEveryoneElseVariation": false,
    })
}

/// The variables of `feature_1` as upstream decides them for matjaz.
pub fn feature_1_variables() -> Value {
    json!({"bool_var": true, "double_var": 5.6, "int_var": 1, "str_var": "hello"})
}

/// Sorts an array reply by `flagKey` (upstream's order is Go map order).
pub fn by_flag(reply: &Reply) -> Vec<Value> {
    let mut list = reply.json().as_array().expect("an array").clone();
    list.sort_by(|a, b| a["flagKey"].as_str().cmp(&b["flagKey"].as_str()));
    list
}

/// The `flagKey`s of a list of decisions, in order.
pub fn flag_keys(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|d| d["flagKey"].as_str().unwrap())
        .collect()
}

/// The notification upstream streams for `decide?keys=feature_1` by matjaz.
pub fn feature_1_notification() -> Value {
    json!({
        "Type": "flag",
        "UserContext": {"ID": "matjaz", "Attributes": {"attr_1": "hola"}, "QualifiedSegments": null},
        "DecisionInfo": {
            "decisionEventDispatched": false,
            "enabled": true,
            "experimentId": "16941022436",
            "flagKey": "feature_1",
            "reasons": [],
            "ruleKey": "16941022436",
            "variables": {"bool_var": true, "double_var": 5.6, "int_var": 1, "str_var": "hello"},
            "variationId": "16906801184",
            "variationKey": "16906801184"
        }
    })
}

/// What a [`Case`] expects of the answer's body.
pub enum Expect {
    /// Exactly this text.
    Exact(String),
    /// A JSON document equal to this value (see [`assert_json`]).
    Json(Value),
    /// Any body: only the status is checked.
    Any,
}

/// One row of a table-driven API test: a request and the answer it must get.
pub struct Case {
    method: reqwest::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
    expect: Expect,
}

impl Case {
    /// `GET {api}{path}` with the SDK key header; expects a 200 with any body.
    pub fn get(path: &str, sdk_key: &str) -> Case {
        Case {
            method: reqwest::Method::GET,
            path: path.to_owned(),
            headers: vec![("x-optimizely-sdk-key", sdk_key.to_owned())],
            body: None,
            status: 200,
            expect: Expect::Any,
        }
    }

    /// `POST {api}{path}` with the SDK key header and a JSON body, as
    /// [`super::serve::Serve::post`] sends it.
    pub fn post(path: &str, sdk_key: &str, body: &Value) -> Case {
        Case::raw(
            path,
            sdk_key,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
    }

    /// `POST {api}{path}` with the SDK key header and this body and content type.
    pub fn raw(path: &str, sdk_key: &str, content_type: &str, body: Vec<u8>) -> Case {
        Case {
            method: reqwest::Method::POST,
            body: Some(body),
            ..Case::get(path, sdk_key)
        }
        .header("content-type", content_type)
    }

    /// Adds a request header.
    pub fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Drops a request header the constructor set (e.g. the SDK key).
    pub fn without(mut self, name: &str) -> Case {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    /// Expects this status and exactly this body.
    pub fn answers(mut self, status: u16, body: &str) -> Case {
        self.status = status;
        self.expect = Expect::Exact(body.to_owned());
        self
    }

    /// Expects this status and this JSON document.
    pub fn answers_json(mut self, status: u16, body: Value) -> Case {
        self.status = status;
        self.expect = Expect::Json(body);
        self
    }

    /// Expects this status, whatever the body.
    pub fn status(mut self, status: u16) -> Case {
        self.status = status;
        self.expect = Expect::Any;
        self
    }
}

/// Sends every case in order (later rows may depend on what earlier ones changed)
/// and asserts each answer; a failure names the row.
pub async fn check(serve: &Serve, cases: impl IntoIterator<Item = Case>) {
    for (row, case) in cases.into_iter().enumerate() {
        let what = format!("row {row}: {} {}", case.method, case.path);
        let mut request = serve
            .http()
            .request(case.method, format!("{}{}", serve.api, case.path));
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = case.body {
            request = request.body(body);
        }
        let reply = serve.send(request).await;
        match case.expect {
            Expect::Exact(body) => assert_eq!(
                (reply.status, reply.body.as_str()),
                (case.status, body.as_str()),
                "{what}"
            ),
            Expect::Json(body) => {
                assert_eq!(reply.status, case.status, "{what}: body: {}", reply.body);
                assert_eq!(
                    reply.header("content-type"),
                    Some("application/json"),
                    "{what}"
                );
                assert!(
                    reply.body.ends_with("}\n") || reply.body.ends_with("]\n"),
                    "{what}: {:?}",
                    reply.body
                );
                assert_eq!(reply.json(), body, "{what}");
            }
            Expect::Any => assert_eq!(reply.status, case.status, "{what}: {}", reply.body),
        }
    }
}
