//! The ODP segments client: one GraphQL query to `<host>/v3/graphql` asking which
//! of the datafile's segments a user qualifies for, as upstream sends it (the
//! `fs_user_id` identifier, the public key in `x-api-key`), and its answer parsed
//! as upstream parses it (an `errors` list in a 200 is a failure; `edges` whose
//! `node.state` is `qualified` are the segments).

use std::time::Duration;

use serde_json::{Value, json};

use super::{API_KEY_HEADER, OdpError, USER_ID_KEY};
use crate::util::error_chain;

/// The GraphQL path below the integration's host.
pub const GRAPHQL_PATH: &str = "/v3/graphql";

/// Why a fetch gave no segments; the text is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentsError {
    /// ODP does not know the user id.
    #[error("audience segments fetch failed (invalid identifier)")]
    InvalidIdentifier,
    /// Anything else: the request failed, the endpoint answered an error or an
    /// answer that does not decode.
    #[error("audience segments fetch failed ({0})")]
    Failed(String),
}

/// Fetches qualified segments, each request bounded by `segmentsRequestTimeout`.
#[derive(Debug, Clone)]
pub struct SegmentsClient {
    http: reqwest::Client,
}

impl SegmentsClient {
    /// A client whose requests time out after `timeout` (0 = no limit).
    ///
    /// # Errors
    ///
    /// [`OdpError::HttpClient`] when TLS set-up fails.
    pub fn new(timeout: Duration) -> Result<Self, OdpError> {
        Ok(SegmentsClient {
            http: super::http_client(timeout)?,
        })
    }

    /// Which of `segments` the user `user_id` qualifies for, asked of the ODP
    /// integration at `host` with the public key `api_key`.
    ///
    /// # Errors
    ///
    /// [`SegmentsError`] when the request fails or the answer says so.
    pub async fn fetch(
        &self,
        host: &str,
        api_key: &str,
        user_id: &str,
        segments: &[String],
    ) -> Result<Vec<String>, SegmentsError> {
        let url = format!("{}{GRAPHQL_PATH}", host.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(API_KEY_HEADER, api_key)
            .body(query_body(user_id, segments).to_string())
            .send()
            .await
            .map_err(|err| SegmentsError::Failed(error_chain(&err)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SegmentsError::Failed(format!("HTTP {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| SegmentsError::Failed(error_chain(&err)))?;
        parse_answer(&body)
    }
}

/// The request body: upstream's query with the user id and the segments to check
/// as variables.
pub fn query_body(user_id: &str, segments: &[String]) -> Value {
    json!({
        "query": format!(
            "query($userId: String, $audiences: [String]) {{customer({USER_ID_KEY}: $userId) \
             {{audiences(subset: $audiences) {{edges {{node {{name state}}}}}}}}}}"
        ),
        "variables": {"userId": user_id, "audiences": segments},
    })
}

/// The qualified segments an answer lists, in its order.
///
/// # Errors
///
/// [`SegmentsError`] for an `errors` answer or one that does not decode.
pub fn parse_answer(body: &[u8]) -> Result<Vec<String>, SegmentsError> {
    let decode = || SegmentsError::Failed("decode error".to_owned());
    let answer: Value = serde_json::from_slice(body).map_err(|_| decode())?;
    if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
        let class = errors
            .first()
            .and_then(|e| e.pointer("/extensions/classification"))
            .and_then(Value::as_str);
        return Err(match class {
            Some("InvalidIdentifierException") => SegmentsError::InvalidIdentifier,
            Some(class) => SegmentsError::Failed(class.to_owned()),
            None => decode(),
        });
    }
    let edges = answer
        .pointer("/data/customer/audiences/edges")
        .and_then(Value::as_array)
        .ok_or_else(decode)?;
    Ok(edges
        .iter()
        .filter_map(|edge| {
            let node = edge.get("node")?;
            let qualified = node.get("state").and_then(Value::as_str) == Some("qualified");
            let name = node.get("name").and_then(Value::as_str)?;
            qualified.then(|| name.to_owned())
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_query_is_upstreams() {
        let body = query_body("tester-101", &["has_email".into(), "push_on_sale".into()]);
        assert_eq!(
            body["query"],
            "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) \
             {audiences(subset: $audiences) {edges {node {name state}}}}}"
        );
        assert_eq!(
            body["variables"],
            json!({"userId": "tester-101", "audiences": ["has_email", "push_on_sale"]})
        );
    }

    #[test]
    fn qualified_nodes_are_the_segments() {
        let body = br#"{"data":{"customer":{"audiences":{"edges":[
            {"node":{"name":"a","state":"qualified"}},
            {"node":{"name":"b","state":"not_qualified"}},
            {"node":{"state":"qualified"}},
            "odd",
            {"node":{"name":"c","state":"qualified"}}]}}}}"#;
        assert_eq!(parse_answer(body).unwrap(), ["a", "c"]);
        let none = br#"{"data":{"customer":{"audiences":{"edges":[]}}}}"#;
        assert!(parse_answer(none).unwrap().is_empty());
    }

    #[test]
    fn failures_read_as_upstream_words_them() {
        let invalid = br#"{"errors":[{"message":"could not resolve _fs_user_id",
            "extensions":{"classification":"InvalidIdentifierException"}}],
            "data":{"customer":null}}"#;
        let err = parse_answer(invalid).unwrap_err();
        assert_eq!(
            err.to_string(),
            "audience segments fetch failed (invalid identifier)"
        );
        let other = br#"{"errors":[{"extensions":{"classification":"DataFetchingException"}}]}"#;
        assert_eq!(
            parse_answer(other).unwrap_err().to_string(),
            "audience segments fetch failed (DataFetchingException)"
        );
        for body in [&b"not json"[..], br#"{"errors":[{}]}"#, br#"{"data":{}}"#] {
            assert_eq!(
                parse_answer(body).unwrap_err().to_string(),
                "audience segments fetch failed (decode error)"
            );
        }
    }
}
