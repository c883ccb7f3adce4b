//! Token authentication of the API and admin listeners, upstream's JWT model
//! (`api.auth`, `admin.auth`).
//!
//! - Issuer and validator: `POST /oauth/token` ([`token`]) exchanges a client's id
//!   and secret for an HS256 token signed with the first `hmacSecrets` entry; a
//!   token signed with any entry is accepted.
//! - Validator only: tokens issued elsewhere are checked against the keys of
//!   `jwksURL` ([`jwks`]), by the token's `kid`.
//! - Neither set: the listener is open.
//!
//! The token travels in `Authorization: Bearer …` (or upstream's `JWT …`, or its
//! `Jwt`/`Auth` headers); a browser `EventSource` cannot set headers, so the
//! notification stream also takes it from the `access_token` query parameter
//! (RFC 6750's name; upstream has no such way). API tokens carry `sdk_keys`: the
//! request's `X-Optimizely-SDK-Key` must be one of them, so a stream only ever
//! streams a key its token grants. Admin tokens carry `admin: true`. Bodies and
//! statuses are upstream's. Tokens and secrets are never logged.

mod jwks;
mod token;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub(crate) use jwks::JwksError;
pub use token::generate_client_secret;
pub(crate) use token::{admin_token, api_token};

use super::Shared;
use super::json::GoJson;
use crate::config::AuthSettings;
use crate::wire::{EVENT_STREAM_PATH, SDK_KEY_HEADER};

/// The path of the token endpoint on both listeners.
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

/// The query parameter carrying a token on the notification stream.
pub(crate) const ACCESS_TOKEN_QUERY: &str = "access_token";

/// The `POST /oauth/token` route with `handler` (the API's or the admin's).
pub(crate) fn token_route<H, T>(handler: H) -> axum::Router<Shared>
where
    H: axum::handler::Handler<T, Shared>,
    T: 'static,
{
    axum::Router::new().route(TOKEN_PATH, axum::routing::post(handler))
}

/// One listener's authentication: how tokens are checked and issued.
pub(crate) struct Auth {
    /// `None`: the listener is open.
    verifier: Option<Verifier>,
    issuer: token::Issuer,
}

enum Verifier {
    /// The decoded `hmacSecrets`; any of them may have signed a token.
    Hmac(Vec<DecodingKey>),
    /// The keys of `jwksURL`.
    Jwks(jwks::KeySet),
}

impl Auth {
    /// Builds one listener's authentication from its (validated) settings; with a
    /// `jwksURL`, fetches the key set and keeps it fresh until `cancel`.
    ///
    /// # Errors
    ///
    /// [`JwksError`] when the key set cannot be fetched.
    pub(crate) async fn start(
        listener: &str,
        settings: &AuthSettings,
        cancel: CancellationToken,
    ) -> Result<Arc<Auth>, JwksError> {
        let secrets: Vec<Vec<u8>> = settings
            .hmac_secrets
            .iter()
            .filter_map(|s| crate::util::decode_base64(s))
            .collect();
        let verifier = if !settings.jwks_url.is_empty() {
            if !secrets.is_empty() {
                tracing::warn!(
                    "{listener}.auth: hmacSecrets are ignored when checking tokens; the keys \
                     of jwksURL are used"
                );
            }
            let keys =
                jwks::KeySet::start(&settings.jwks_url, settings.jwks_update_interval, cancel)
                    .await?;
            Some(Verifier::Jwks(keys))
        } else if secrets.is_empty() {
            None
        } else {
            Some(Verifier::Hmac(
                secrets
                    .iter()
                    .map(|s| DecodingKey::from_secret(s))
                    .collect(),
            ))
        };
        if verifier.is_some() {
            tracing::info!(
                listener,
                mode = if settings.jwks_url.is_empty() {
                    "hmac"
                } else {
                    "jwks"
                },
                clients = settings.clients.len(),
                "token authentication on"
            );
        }
        Ok(Arc::new(Auth {
            verifier,
            issuer: token::Issuer::new(settings, secrets.first().map(Vec::as_slice)),
        }))
    }

    /// The claims of `token`, checked against the signing keys and `exp`.
    ///
    /// # Errors
    ///
    /// Why the token is refused, in upstream's words (never the token itself).
    fn verify(&self, verifier: &Verifier, token: &str) -> Result<Map<String, Value>, String> {
        if token.is_empty() {
            return Err("empty token".to_owned());
        }
        match verifier {
            Verifier::Hmac(keys) => {
                let validation =
                    validation(vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
                let mut last = ErrorKind::InvalidSignature;
                for key in keys {
                    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
                        Ok(data) => return Ok(data.claims),
                        // Another secret may have signed it.
                        Err(err) if *err.kind() == ErrorKind::InvalidSignature => {}
                        Err(err) => {
                            last = err.into_kind();
                            break;
                        }
                    }
                }
                Err(reason(&last))
            }
            Verifier::Jwks(keys) => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| reason(e.kind()))?;
                let kid = header
                    .kid
                    .ok_or_else(|| "expecting JWT header to have string kid".to_owned())?;
                let (key, algorithms) = keys.key(&kid)?;
                jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation(algorithms))
                    .map(|data| data.claims)
                    .map_err(|e| reason(e.kind()))
            }
        }
    }
}

/// Signature and `exp` (required, no leeway, as upstream); no audience check.
fn validation(algorithms: Vec<Algorithm>) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = algorithms;
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    validation
}

/// Upstream's (jwt-go's) words for why a token is refused.
fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "Token is expired",
        ErrorKind::InvalidSignature => "signature is invalid",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "unexpected signing method"
        }
        ErrorKind::MissingRequiredClaim(_) => "token has no exp claim",
        ErrorKind::ImmatureSignature => "Token is not valid yet",
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "token is malformed",
        _ => "invalid token",
    }
    .to_owned()
}

/// The token a request carries: `Authorization` (`Bearer`/`JWT` scheme or bare),
/// else upstream's `Jwt` and `Auth` headers, else (the notification stream only)
/// the `access_token` query parameter. Empty when there is none.
fn bearer(request: &Request) -> String {
    let headers: &HeaderMap = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = text(header::AUTHORIZATION.as_str()) {
        let value = value.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt") =>
            {
                rest
            }
            _ => value,
        };
        return token.trim().to_owned();
    }
    if let Some(value) = text("jwt").or_else(|| text("auth")) {
        return value.trim().to_owned();
    }
    if request.uri().path().trim_end_matches('/') == EVENT_STREAM_PATH {
        let query = request.uri().query().unwrap_or("");
        if let Some((_, token)) =
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == ACCESS_TOKEN_QUERY)
        {
            return token.into_owned();
        }
    }
    String::new()
}

/// Why a request is refused (401, upstream's bodies).
pub(crate) enum Refusal {
    /// The token is missing, malformed, badly signed or expired. The API listener
    /// answers with upstream's hand-made text, the admin listener with JSON.
    Token { admin: bool, reason: String },
    /// The token is valid but does not allow this request.
    Claims(&'static str),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::UNAUTHORIZED;
        let mut response = match self {
            // Upstream writes this one with `http.Error` and a hand-made text that is
            // not quite JSON; clients that match it byte for byte keep working.
            Refusal::Token {
                admin: false,
                reason,
            } => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{{\"error\": \"unauthorized, \"reason\": \"{reason}\"}}\n"),
            )
                .into_response(),
            Refusal::Token {
                admin: true,
                reason,
            } => GoJson(status, ErrorBody { error: &reason }).into_response(),
            Refusal::Claims(text) => GoJson(status, ErrorBody { error: text }).into_response(),
        };
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// The API listener's check (`api.auth`): a valid token whose `sdk_keys` hold the
/// request's SDK key; `Err` is the refusal to answer with. A request without an SDK key
/// passes on to the SDK-key step, which refuses it where a key is needed. Run by
/// [`RouteLayer`](super::middleware::RouteLayer) before the SDK-key step.
pub(crate) fn api_check(state: &Shared, request: &Request) -> Result<(), Refusal> {
    let auth = &state.api_auth;
    let Some(verifier) = &auth.verifier else {
        return Ok(());
    };
    let claims = auth
        .verify(verifier, &bearer(request))
        .map_err(|reason| Refusal::Token {
            admin: false,
            reason,
        })?;
    let Some(granted) = claims.get("sdk_keys").and_then(Value::as_array) else {
        return Err(Refusal::Claims(
            "invalid claims: sdk_keys not found, or have the wrong type",
        ));
    };
    let requested = request
        .headers()
        .get(SDK_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v));
    if let Some(requested) = requested.filter(|k| !k.is_empty())
        && !granted.iter().any(|k| k.as_str() == Some(requested))
    {
        return Err(Refusal::Claims(
            "SDK key given in X-Optimizely-Sdk-Key header was not found in the SDK keys in \
             this token's claims",
        ));
    }
    Ok(())
}

/// The admin listener's check (`admin.auth`): a valid token with `admin: true`.
pub(crate) async fn admin_guard(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let auth = &state.admin_auth;
    let Some(verifier) = &auth.verifier else {
        return next.run(request).await;
    };
    match auth.verify(verifier, &bearer(&request)) {
        Err(reason) => Refusal::Token {
            admin: true,
            reason,
        }
        .into_response(),
        Ok(claims) if claims.get("admin") != Some(&Value::Bool(true)) => {
            Refusal::Claims("admin flag not set").into_response()
        }
        Ok(_) => next.run(request).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn tokens_are_read_where_upstream_reads_them() {
        type Headers = &'static [(&'static str, &'static str)];
        let table: [(&str, Headers, &str); 8] = [
            ("/v1/config", &[("authorization", "Bearer abc")], "abc"),
            ("/v1/config", &[("authorization", "bearer  abc ")], "abc"),
            ("/v1/config", &[("authorization", "JWT abc")], "abc"),
            ("/v1/config", &[("authorization", "abc")], "abc"),
            ("/v1/config", &[("jwt", "j"), ("auth", "a")], "j"),
            ("/v1/config", &[("auth", "a")], "a"),
            ("/v1/config?access_token=q", &[], ""),
            (
                "/v1/notifications/event-stream?access_token=q%2B",
                &[],
                "q+",
            ),
        ];
        for (uri, headers, want) in table {
            assert_eq!(bearer(&request(uri, headers)), want, "{uri} {headers:?}");
        }
    }

    #[test]
    fn hmac_tokens_are_checked_against_every_secret() {
        let settings = AuthSettings {
            hmac_secrets: vec!["c2VjcmV0LW9uZQ==".to_owned(), "c2VjcmV0LXR3bw".to_owned()],
            ..AuthSettings::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let auth = runtime
            .block_on(Auth::start("api", &settings, CancellationToken::new()))
            .unwrap();
        let verifier = auth.verifier.as_ref().unwrap();
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let sign = |secret: &[u8], exp: u64| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &serde_json::json!({"sdk_keys": ["k"], "exp": exp}),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        assert!(auth.verify(verifier, &sign(b"secret-one", exp)).is_ok());
        assert!(auth.verify(verifier, &sign(b"secret-two", exp)).is_ok());
        assert_eq!(
            auth.verify(verifier, &sign(b"secret-three", exp)),
            Err("signature is invalid".to_owned())
        );
        assert_eq!(
            auth.verify(verifier, &sign(b"secret-two", exp - 120)),
            Err("Token is expired".to_owned())
        );
        assert_eq!(auth.verify(verifier, ""), Err("empty token".to_owned()));
        assert_eq!(
            auth.verify(verifier, "not.a.token"),
            Err("token is malformed".to_owned())
        );
    }
}
