//! `agentctl generate-secret`: its options (none beyond the global ones).

use clap::Args;

/// `agentctl generate-secret`.
#[derive(Debug, Args)]
pub struct GenerateSecretArgs {
    /// Print `{"clientSecret":…,"secretHash":…}` instead of two labelled lines.
    #[arg(long)]
    pub json: bool,
}

/// The long help of `agentctl generate-secret`.
pub(super) const GENERATE_SECRET_LONG_ABOUT: &str = "\
Make a client secret for token authentication (api.auth / admin.auth), as the \
upstream Agent's generate_secret tool does: 32 random bytes in base64, and the \
base64 of their bcrypt hash (cost 12).

Put the hash in the client's `secretHash` in the config; the client sends the \
secret as `client_secret` to POST /oauth/token. The same command also makes a \
value for `hmacSecrets` (use the secret, ignore the hash). Reads no configuration.";
