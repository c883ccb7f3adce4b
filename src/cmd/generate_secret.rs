//! `agentctl generate-secret`: a client secret and the `secretHash` that admits it
//! (made by [`crate::server::generate_client_secret`]), printed to stdout.

use anyhow::anyhow;
use serde::Serialize;

use crate::cli::GenerateSecretArgs;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    client_secret: String,
    secret_hash: String,
}

/// Prints a new secret and its hash.
///
/// # Errors
///
/// When no random bytes can be read or stdout cannot be written.
pub fn run(args: &GenerateSecretArgs) -> anyhow::Result<()> {
    let (client_secret, secret_hash) =
        crate::server::generate_client_secret().map_err(|e| anyhow!("generate-secret: {e}"))?;
    if args.json {
        return super::print_json(&Generated {
            client_secret,
            secret_hash,
        });
    }
    super::print(&format!(
        "Client Secret: {client_secret}\nClient Secret's hash: {secret_hash}\n"
    ))
}
