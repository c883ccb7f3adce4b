//! `POST /oauth/token`: upstream's client-credentials grant. The form-encoded body
//! names `grant_type=client_credentials`, `client_id` and `client_secret`; the
//! secret is base64, and the bcrypt hash of its bytes must match the client's
//! `secretHash` (itself base64, as upstream stores it). The answer is
//! `{"access_token","token_type":"bearer","expires_in"}`; errors are OAuth's
//! `{"error","error_description"}` with upstream's statuses and words.
//!
//! Also here: [`generate_client_secret`], upstream's secret generator (32 random
//! bytes, bcrypt cost 12).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use serde_json::json;

use super::Auth;
use crate::config::AuthSettings;
use crate::server::Shared;
use crate::server::api::RawBody;
use crate::server::json::{GoJson, ok};

/// Random bytes in a generated client secret (upstream's length).
const SECRET_BYTES: usize = 32;

/// bcrypt cost of generated hashes (upstream's work factor).
const BCRYPT_COST: u32 = 12;

/// The clients that may obtain tokens and the key tokens are signed with.
pub(super) struct Issuer {
    clients: HashMap<String, Client>,
    /// The first HMAC secret; `None` when none is set (then no client is listed:
    /// the settings check refuses clients without a secret).
    key: Option<EncodingKey>,
    ttl: Duration,
}

struct Client {
    /// The bcrypt hash of the secret's bytes.
    hash: String,
    sdk_keys: Vec<String>,
}

impl Issuer {
    pub(super) fn new(settings: &AuthSettings, signing_secret: Option<&[u8]>) -> Issuer {
        let clients = settings
            .clients
            .iter()
            .filter_map(|c| {
                let hash = crate::util::decode_base64(&c.secret_hash)
                    .and_then(|bytes| String::from_utf8(bytes).ok())?;
                let client = Client {
                    hash,
                    sdk_keys: c.sdk_keys.clone(),
                };
                Some((c.id.clone(), client))
            })
            .collect();
        Issuer {
            clients,
            key: signing_secret.map(EncodingKey::from_secret),
            ttl: settings.ttl,
        }
    }
}

/// An OAuth error answer (RFC 6749 §5.2, upstream's texts).
#[derive(Debug, PartialEq, Eq)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl OAuthError {
    const fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        OAuthError {
            status,
            error,
            description,
        }
    }

    const fn invalid_client(description: &'static str) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
}

#[derive(Serialize)]
struct OAuthErrorBody {
    error: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    error_description: &'static str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = GoJson(
            self.status,
            OAuthErrorBody {
                error: self.error,
                error_description: self.description,
            },
        )
        .into_response();
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `POST /oauth/token` of the API listener: a token granting the client's SDK keys.
pub(crate) async fn api_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    issue(&state.api_auth, &headers, &body.0, false).await
}

/// `POST /oauth/token` of the admin listener: a token with `admin: true`.
pub(crate) async fn admin_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    issue(&state.admin_auth, &headers, &body.0, true).await
}

async fn issue(auth: &Auth, headers: &HeaderMap, body: &[u8], admin: bool) -> Response {
    let issuer = &auth.issuer;
    let client = match check_request(issuer, headers, body).await {
        Ok(client) => client,
        Err(err) => {
            tracing::debug!(error = err.error, "token request refused");
            return err.into_response();
        }
    };
    let Some(key) = &issuer.key else {
        // No client can pass the check without a secret (the settings check).
        return OAuthError::invalid_client("invalid client_id or client_secret").into_response();
    };
    let exp = jsonwebtoken::get_current_timestamp() + issuer.ttl.as_secs();
    let claims = if admin {
        json!({"admin": true, "exp": exp})
    } else {
        json!({"sdk_keys": client.sdk_keys, "exp": exp})
    };
    match jsonwebtoken::encode(&Header::default(), &claims, key) {
        Ok(access_token) => ok(TokenAnswer {
            access_token,
            token_type: "bearer",
            expires_in: issuer.ttl.as_secs(),
        }),
        Err(err) => {
            tracing::error!("cannot sign an access token: {err}");
            crate::server::ApiError::internal("cannot sign an access token").into_response()
        }
    }
}

/// The client whose credentials the form body names, checked as upstream does
/// (in its order, with its statuses).
async fn check_request<'a>(
    issuer: &'a Issuer,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'a Client, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "Content-Type header value must be application/x-www-form-urlencoded",
        ));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    match field("grant_type") {
        "" => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type missing from request body",
            ));
        }
        "client_credentials" => {}
        _ => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "",
            ));
        }
    }
    let (id, secret) = (field("client_id"), field("client_secret"));
    if id.is_empty() {
        return Err(OAuthError::invalid_client(
            "client_id missing from request body",
        ));
    }
    if secret.is_empty() {
        return Err(OAuthError::invalid_client(
            "client_secret missing from request body",
        ));
    }
    let wrong = OAuthError::invalid_client("invalid client_id or client_secret");
    let client = issuer.clients.get(id).ok_or(wrong)?;
    let secret = crate::util::decode_base64(secret).ok_or(OAuthError::invalid_client(
        "invalid client_id or client_secret",
    ))?;
    let hash = client.hash.clone();
    // bcrypt takes a quarter of a second at cost 12: off the async workers.
    let matches = tokio::task::spawn_blocking(move || bcrypt::verify(secret, &hash))
        .await
        .is_ok_and(|verified| verified.unwrap_or(false));
    if matches {
        Ok(client)
    } else {
        Err(OAuthError::invalid_client(
            "invalid client_id or client_secret",
        ))
    }
}

/// A new client secret and the `secretHash` that admits it, as upstream's
/// `generate_secret` makes them: 32 random bytes in base64, and the base64 of the
/// bcrypt hash (cost 12) of those bytes.
///
/// # Errors
///
/// When the system's random source or bcrypt fails.
pub fn generate_client_secret() -> Result<(String, String), String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes: {e}"))?;
    let hash = bcrypt::hash_with_result(bytes, BCRYPT_COST)
        .map_err(|e| format!("bcrypt: {e}"))?
        // `$2a$`, as upstream's Go bcrypt writes it.
        .format_for_version(bcrypt::Version::TwoA);
    Ok((STANDARD.encode(bytes), STANDARD.encode(hash)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::config::AuthClientSettings;

    fn issuer() -> (Issuer, String) {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let secret = [7u8; 32];
        // Cost 4 keeps the test quick; the cost is part of the hash.
        let hash = bcrypt::hash(secret, 4).unwrap();
        let settings = AuthSettings {
            ttl: Duration::from_secs(60),
            clients: vec![AuthClientSettings {
                id: "c1".to_owned(),
                secret_hash: STANDARD.encode(hash),
                sdk_keys: vec!["k".to_owned()],
            }],
            ..AuthSettings::default()
        };
        (Issuer::new(&settings, Some(b"s")), STANDARD.encode(secret))
    }

    fn form() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers
    }

    #[tokio::test]
    async fn requests_are_checked_in_upstreams_order() {
        let (issuer, secret) = issuer();
        let good = format!("grant_type=client_credentials&client_id=c1&client_secret={secret}")
            .replace('+', "%2B")
            .replace('/', "%2F");
        let table: [(HeaderMap, String, StatusCode, &str, &str); 7] = [
            (
                HeaderMap::new(),
                good.clone(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "Content-Type header value must be application/x-www-form-urlencoded",
            ),
            (
                form(),
                "client_id=c1".to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type missing from request body",
            ),
            (
                form(),
                "grant_type=password".to_owned(),
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "",
            ),
            (
                form(),
                "grant_type=client_credentials&client_secret=x".to_owned(),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_id missing from request body",
            ),
            (
                form(),
                "grant_type=client_credentials&client_id=c1".to_owned(),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_secret missing from request body",
            ),
            (
                form(),
                good.replace("client_id=c1", "client_id=c2"),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "invalid client_id or client_secret",
            ),
            (
                form(),
                "grant_type=client_credentials&client_id=c1&client_secret=AAAA".to_owned(),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "invalid client_id or client_secret",
            ),
        ];
        for (headers, body, status, error, description) in table {
            let err = check_request(&issuer, &headers, body.as_bytes())
                .await
                .err()
                .unwrap_or_else(|| panic!("{body} was accepted"));
            assert_eq!(err, OAuthError::new(status, error, description), "{body}");
        }
        let client = check_request(&issuer, &form(), good.as_bytes())
            .await
            .unwrap();
        assert_eq!(client.sdk_keys, ["k"]);
    }

    #[test]
    fn generated_secrets_pass_their_own_hash() {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let (secret, hash) = generate_client_secret().unwrap();
        let secret = STANDARD.decode(secret).unwrap();
        let hash = String::from_utf8(STANDARD.decode(hash).unwrap()).unwrap();
        assert_eq!(secret.len(), SECRET_BYTES);
        assert!(hash.starts_with("$2a$12$"), "{hash}");
        assert!(bcrypt::verify(&secret, &hash).unwrap());
        assert!(!bcrypt::verify([0u8; 32], &hash).unwrap());
    }
}
