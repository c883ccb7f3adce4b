//! Settings of `agentctl`: the upstream Agent's configuration keys and defaults,
//! resolved in layers.
//!
//! 1. [`Settings::default()`] — the only place defaults are written;
//! 2. a YAML file (`--config` / `AGENTCTL_CONFIG`, else `./config.yaml` if present);
//! 3. `OPTIMIZELY_*` environment variables, one per key: the key path uppercased
//!    with `.` replaced by `_` (`OPTIMIZELY_API_ENABLENOTIFICATIONS=1`); a section
//!    or map-valued key takes a JSON object, as upstream reads
//!    `OPTIMIZELY_CLIENT_USERPROFILESERVICE='{"default":"in-memory",…}'`;
//! 4. command-line flags, as [`Overrides`] given to [`Settings::apply`].
//!
//! Like viper in the upstream Agent, keys match case-insensitively and scalars are
//! weakly typed (`"true"` is a boolean where a boolean is expected, `8080` a string
//! where a string is). Unknown keys produce warnings naming the key and the file (or
//! the variable), so do `OPTIMIZELY_*` variables that name no key or hold a map
//! that is not a JSON object;
//! bad values produce an [`Error`] naming the source, key, value and what is
//! expected, never showing a secret.
//!
//! This module owns the settings types, their defaults, loading and validation. It
//! must not import anything from `cli`, `cmd` or `store`; they depend on it.

pub mod duration;
mod env;
mod overrides;
mod settings;
mod tree;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

pub use settings::{
    AdminSettings, ApiSettings, AuthClientSettings, AuthSettings, BatchRequestsSettings,
    ClientSettings, CmabCacheSettings, CmabRetrySettings, CmabSettings, CorsSettings, LogSettings,
    ODP_PASSWORD_ENV, OdpSettings, PubSubSettings, RedisSentinelSettings, RedisSettings,
    RedisTlsSettings, RuntimeSettings, SegmentsCacheChoice, SegmentsCacheProblem, ServerSettings,
    Settings, SyncFeatureSettings, SynchronizationSettings, UserProfileServiceSettings,
    WebhookProjectSettings, WebhookSettings,
};
pub use settings::{
    OpenTelemetrySettings, RemoteTraceSettings, StdoutTraceSettings, TracingServices,
    TracingSettings,
};

pub use env::{ENV_PREFIX, Environment, ProcessEnv};
pub use overrides::Overrides;
use tree::{BadValue, KeyPath};
pub use validate::{Scope, listen_addr};

/// Name of the configuration file looked for in the current directory.
pub const DEFAULT_FILE_NAME: &str = "config.yaml";

/// Fallback Redis password variables, in priority order, used when `auth_token`,
/// `redis_secret` and `password` are all empty.
pub const PASSWORD_ENV_FALLBACKS: [&str; 2] = ["REDIS_PUBSUB_PASSWORD", "REDIS_PASSWORD"];

/// The result of [`load`]: the settings, the file they were read from, and warnings
/// (unknown keys, keys repeated with different case) for the caller to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The resolved settings (defaults, file, environment).
    pub settings: Settings,
    /// The configuration file that was read, if any.
    pub file: Option<PathBuf>,
    /// One line per problem that did not stop loading.
    pub warnings: Vec<String>,
    /// What the file and the environment set (keys lowercased), for [`Loaded::is_set`].
    given: Value,
}

impl Loaded {
    /// Whether the file or the environment set `key` (a dotted path in any case,
    /// e.g. `log.pretty`), as opposed to leaving it at its default. Some settings
    /// have a default that depends on circumstances (`log.pretty`: readable lines on
    /// a terminal) that only an explicit value overrides.
    pub fn is_set(&self, key: &str) -> bool {
        KeyPath::dotted(&key.to_ascii_lowercase())
            .lookup(&self.given)
            .is_some_and(|value| !value.is_null())
    }
}

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file (or in-memory YAML), by the name used in messages.
    File(String),
    /// An environment variable, by name.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(name) => write!(f, "config file {name}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// Why settings could not be loaded. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read. The I/O error is part of the
    /// message (and deliberately not a `source()`, so it is not printed twice).
    #[error("config file {}: cannot read: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("config file {source_name}: invalid YAML{}: {message}", location(*line, *column))]
    Syntax {
        /// The file, as named in messages.
        source_name: String,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// The parser's description.
        message: String,
    },
    /// A key has a value of the wrong type or outside the allowed set.
    #[error("{origin}: key `{key}`: invalid value {value}: expected {expected}")]
    Invalid {
        /// The file or environment variable that set the value.
        origin: Origin,
        /// The key path in upstream spelling, e.g. `synchronization.pubsub.redis.flush_interval`.
        key: String,
        /// The value as written (strings quoted), or `<redacted>` for secrets.
        value: String,
        /// What would be accepted, e.g. `a duration such as 500ms, 5s or 1m`.
        expected: String,
    },
    /// The built-in defaults could not be turned into a YAML tree (a bug).
    #[error("internal error: the default settings cannot be represented as YAML: {0}")]
    Defaults(String),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

/// Resolves the settings from defaults, a YAML file and the environment.
///
/// `explicit` is a path the user gave (`--config` or `AGENTCTL_CONFIG`): a missing
/// file is an error. Without it, `./config.yaml` is read if it exists; otherwise
/// only defaults and the environment apply. `env` gives the environment variables
/// (pass [`ProcessEnv`]); the process environment is never read directly.
/// `scope` says which command the settings are for, and so which keys are checked.
///
/// # Errors
///
/// [`Error`] naming the file or variable, key, value and what is expected.
pub fn load(explicit: Option<&Path>, env: &dyn Environment, scope: Scope) -> Result<Loaded, Error> {
    load_in(explicit, Path::new("."), env, scope)
}

/// [`load`], looking for the implicit file in `dir` instead of the current directory.
fn load_in(
    explicit: Option<&Path>,
    dir: &Path,
    env: &dyn Environment,
    scope: Scope,
) -> Result<Loaded, Error> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let candidate = dir.join(DEFAULT_FILE_NAME);
            if !candidate.exists() {
                return from_yaml_str("", "(none)", env, scope);
            }
            candidate
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|error| Error::Read {
        path: path.clone(),
        error,
    })?;
    let mut loaded = from_yaml_str(&text, &path.display().to_string(), env, scope)?;
    loaded.file = Some(path);
    Ok(loaded)
}

/// Like [`load`], from YAML text already in memory; `source_name` names it in
/// messages. The returned [`Loaded::file`] is `None`.
///
/// # Errors
///
/// As [`load`], except for reading the file.
pub fn from_yaml_str(
    text: &str,
    source_name: &str,
    env: &dyn Environment,
    scope: Scope,
) -> Result<Loaded, Error> {
    let file = Origin::File(source_name.to_owned());
    let mut root: Value =
        serde_yaml_ng::from_str(text).map_err(|e| syntax_error(source_name, &e))?;
    root.apply_merge()
        .map_err(|e| syntax_error(source_name, &e))?;
    if root.is_null() {
        root = Value::Mapping(Mapping::new());
    }
    if !root.is_mapping() {
        return Err(Error::Invalid {
            origin: file,
            key: "(top level)".to_owned(),
            value: tree::render(&root),
            expected: "a mapping of settings such as `api:` and `server:`".to_owned(),
        });
    }

    let mut file_warnings = Vec::new();
    tree::lowercase_keys(&mut root, &mut |path| {
        file_warnings.push(format!(
            "{file}: key `{}` is given more than once (keys ignore case); the last one wins",
            path.display()
        ));
    });

    let defaults =
        serde_yaml_ng::to_value(Settings::default()).map_err(|e| Error::Defaults(e.to_string()))?;
    tree::coerce_tree(&mut root, &defaults).map_err(|bad| invalid(file.clone(), bad))?;
    let mut warnings = file_warnings;
    let env_applied = tree::apply_env(&mut root, &defaults, env)
        .map_err(|e| invalid(Origin::Env(e.var), e.bad))?;
    warnings.extend(env_applied.warnings);
    let overridden = env_applied.overridden;
    let sources = Sources {
        root,
        file,
        overridden,
    };

    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(KeyPath::from_ignored(&path));
    let deserializer = serde_ignored::Deserializer::new(sources.root.clone(), &mut on_unknown);
    let result: Result<Settings, _> = serde_path_to_error::deserialize(deserializer);
    let mut settings = result.map_err(|e| sources.serde_error(&e))?;
    warnings.extend(unknown.iter().map(|path| {
        format!(
            "{}: unknown key `{}` (ignored)",
            sources.origin_of(path),
            path.display()
        )
    }));

    apply_password_fallback(&mut settings.synchronization.pubsub.redis, env);
    validate::validate(&mut settings, &sources, scope)?;
    Ok(Loaded {
        settings,
        file: None,
        warnings,
        given: sources.root,
    })
}

fn syntax_error(source_name: &str, error: &serde_yaml_ng::Error) -> Error {
    let loc = error.location();
    let mut message = error.to_string();
    if let Some(loc) = &loc {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        message = message.replacen(&at, "", 1);
    }
    Error::Syntax {
        source_name: source_name.to_owned(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        message,
    }
}

fn invalid(origin: Origin, bad: BadValue) -> Error {
    Error::Invalid {
        origin,
        key: bad.path.display(),
        value: bad.value,
        expected: bad.expected,
    }
}

/// When no password field is set, takes the first non-empty fallback variable.
fn apply_password_fallback(redis: &mut RedisSettings, env: &dyn Environment) {
    if redis.effective_password().is_some() {
        return;
    }
    if let Some(password) = PASSWORD_ENV_FALLBACKS
        .iter()
        .find_map(|var| env.var(var).filter(|v| !v.is_empty()))
    {
        redis.password = password;
    }
}

/// The merged tree and where its values came from, to word errors.
struct Sources {
    /// File values with environment overrides applied, keys lowercased.
    root: Value,
    /// The file.
    file: Origin,
    /// Lowercased key path → environment variable that set it.
    overridden: BTreeMap<String, String>,
}

impl Sources {
    /// The environment variable that set `path` (or an ancestor), else the file.
    fn origin_of(&self, path: &KeyPath) -> Origin {
        path.lower_prefixes()
            .iter()
            .find_map(|p| self.overridden.get(p))
            .map_or_else(|| self.file.clone(), |var| Origin::Env(var.clone()))
    }

    /// Whether the file or the environment set `path`.
    fn is_set(&self, path: &KeyPath) -> bool {
        path.lookup(&self.root).is_some()
    }

    /// An [`Error::Invalid`] for the value at `path`; `fallback` renders the value
    /// when it was not set (i.e. it is a default).
    fn invalid(&self, path: &KeyPath, fallback: String, expected: String) -> Error {
        let value = if path.is_secret() {
            tree::REDACTED.to_owned()
        } else {
            path.lookup(&self.root).map_or(fallback, tree::render)
        };
        Error::Invalid {
            origin: self.origin_of(path),
            key: path.display(),
            value,
            expected,
        }
    }

    fn serde_error(&self, error: &serde_path_to_error::Error<serde_yaml_ng::Error>) -> Error {
        let path = KeyPath::from_error_path(error.path());
        let expected = expected_from_serde(&error.inner().to_string());
        if expected == tree::EXPECTED_PROJECT_ID {
            // The mapping key itself is wrong, not the value under it.
            let key = path.last().unwrap_or_default();
            let parent = path.parent();
            return Error::Invalid {
                origin: self.origin_of(&parent),
                key: parent.display(),
                value: format!("{key:?}"),
                expected,
            };
        }
        self.invalid(&path, "(missing)".to_owned(), expected)
    }
}

/// The "what is expected" part of a serde error message, in plain words.
fn expected_from_serde(message: &str) -> String {
    let expected = if let Some(rest) = message.strip_prefix("expected ") {
        rest
    } else if let Some((_, rest)) = message.split_once(", expected ") {
        rest
    } else {
        return message.to_owned();
    };
    let bound = |max: u64| format!("a non-negative integer no larger than {max}");
    match expected {
        "u8" => bound(u8::MAX.into()),
        "u16" => bound(u16::MAX.into()),
        "u32" => bound(u32::MAX.into()),
        "u64" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => tree::EXPECTED_BOOL.to_owned(),
        "a sequence" => "a list".to_owned(),
        s if s.starts_with("struct ") || s.starts_with("a map") => "a mapping of keys".to_owned(),
        s => s.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    const SHIPPED: &str = include_str!("../../config.yaml");

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn yaml(text: &str) -> Loaded {
        from_yaml_str(text, "./x.yaml", &no_env, Scope::Client).unwrap()
    }

    fn yaml_err(text: &str) -> String {
        from_yaml_str(text, "./x.yaml", &no_env, Scope::Client)
            .unwrap_err()
            .to_string()
    }

    fn env_only(pairs: &[(&str, &str)]) -> Result<Loaded, Error> {
        from_yaml_str("", "./x.yaml", &env_of(pairs), Scope::Client)
    }

    #[test]
    fn shipped_config_yaml_is_the_defaults_with_notifications_on_and_events_off() {
        let loaded = from_yaml_str(SHIPPED, "config.yaml", &no_env, Scope::Serve).unwrap();
        assert_eq!(loaded.warnings, Vec::<String>::new());
        let mut expected = Settings::default();
        assert!(
            !expected.api.enable_notifications,
            "upstream's default is off"
        );
        expected.api.enable_notifications = true;
        assert!(!expected.client.event_url.is_empty(), "upstream's default");
        expected.client.event_url = String::new();
        assert_eq!(loaded.settings, expected);
        // log.pretty is left unset, so serve picks by the terminal.
        assert!(!loaded.is_set("log.pretty"));
    }

    #[test]
    fn an_empty_event_url_variable_turns_events_off() {
        let s = env_only(&[
            ("OPTIMIZELY_CLIENT_EVENTURL", ""),
            ("OPTIMIZELY_CLIENT_DATAFILEURLTEMPLATE", ""),
            ("OPTIMIZELY_LOG_LEVEL", ""),
        ])
        .unwrap()
        .settings;
        assert_eq!(s.client.event_url, "");
        assert_eq!(s.client.datafile_url_template, "");
        assert_eq!(s.log.level, "info", "other empty variables stay unset");
    }

    /// Every key of the settings appears in config.yaml, spelled as upstream spells it.
    #[test]
    fn shipped_config_yaml_documents_every_key_in_upstream_spelling() {
        fn keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
            if let Value::Mapping(map) = value {
                for (k, v) in map {
                    let k = k.as_str().unwrap();
                    let path = if prefix.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(path.clone());
                    if matches!(v, Value::Mapping(m) if !m.is_empty()) {
                        keys(v, &path, out);
                    }
                }
            }
        }
        let mut documented = Vec::new();
        keys(
            &serde_yaml_ng::from_str(SHIPPED).unwrap(),
            "",
            &mut documented,
        );
        // log.pretty is documented commented out: set, it would override the
        // terminal-dependent default.
        assert!(SHIPPED.contains("\n    # pretty: false\n"));
        documented.push("log.pretty".to_owned());
        let mut all = Vec::new();
        keys(
            &serde_yaml_ng::to_value(Settings::default()).unwrap(),
            "",
            &mut all,
        );
        let spelled: Vec<String> = all.iter().map(|p| KeyPath::dotted(p).display()).collect();
        documented.sort();
        let mut spelled_sorted = spelled.clone();
        spelled_sorted.sort();
        assert_eq!(documented, spelled_sorted);
    }

    #[test]
    fn empty_and_comment_only_text_give_defaults() {
        assert_eq!(yaml("").settings, Settings::default());
        assert_eq!(yaml("# nothing\n").settings, Settings::default());
        assert_eq!(
            yaml("api:\nsynchronization:\n  pubsub:\n").settings,
            Settings::default()
        );
    }

    #[test]
    fn keys_match_case_insensitively() {
        let s = yaml("api:\n  enablenotifications: true\n").settings;
        assert!(s.api.enable_notifications);
        let s = yaml("API:\n  EnableNotifications: true\n").settings;
        assert!(s.api.enable_notifications);
        let s = yaml("client:\n  SDKKEYREGEX: '^x$'\n  datafileUrlTemplate: file:///d/%s.json\n")
            .settings;
        assert_eq!(s.client.sdk_key_regex, "^x$");
        assert_eq!(s.client.datafile_url_template, "file:///d/%s.json");
    }

    #[test]
    fn keys_differing_only_in_case_warn_and_last_wins() {
        let loaded = yaml("api:\n  enableNotifications: false\n  ENABLENOTIFICATIONS: true\n");
        assert!(loaded.settings.api.enable_notifications);
        assert_eq!(
            loaded.warnings,
            [
                "config file ./x.yaml: key `api.enableNotifications` is given more than once \
              (keys ignore case); the last one wins"
            ]
        );
    }

    #[test]
    fn seed_example_config_loads() {
        let s = yaml(
            r#"
api:
  enableNotifications: true
server:
  readTimeout: 300s
  writeTimeout: 300s
synchronization:
  pubsub:
    redis:
      host: "localhost:6379"
      auth_token: ""
      database: 0
      batch_size: 5
      flush_interval: 2s
      max_retries: 3
      retry_delay: 100ms
      max_retry_delay: 5s
      connection_timeout: 10s
  notification:
    enable: true
    default: "redis"
"#,
        )
        .settings;
        assert!(s.api.enable_notifications);
        assert_eq!(s.server.read_timeout, Duration::from_secs(300));
        let redis = &s.synchronization.pubsub.redis;
        assert_eq!(redis.batch_size, 5);
        assert_eq!(redis.flush_interval, Duration::from_secs(2));
        assert!(s.synchronization.notification.enable);
    }

    #[test]
    fn weak_typing_like_viper() {
        let s = yaml(
            "api:\n  port: 9090\n  enableOverrides: \"true\"\nadmin:\n  port: '0'\n\
             server:\n  allowedHosts: a.example, b.example\n\
             synchronization:\n  pubsub:\n    redis:\n      database: \"2\"\n      flush_interval: 0\n",
        )
        .settings;
        assert_eq!(s.api.port, "9090");
        assert!(s.api.enable_overrides);
        assert_eq!(s.admin.port, "0");
        assert_eq!(s.server.allowed_hosts, ["a.example", "b.example"]);
        assert_eq!(s.synchronization.pubsub.redis.database, 2);
        assert_eq!(
            s.synchronization.pubsub.redis.flush_interval,
            Duration::ZERO
        );
    }

    #[test]
    fn free_form_and_nested_sections() {
        let s = yaml(
            "webhook:\n  projects:\n    12345:\n      sdkKeys: [abc]\n      secret: s3cr3t\n\
             \x20   '678':\n      skipSignatureCheck: true\n\
             client:\n  userProfileService:\n    default: mine\n    services:\n      mine:\n        Path: /tmp/x\n\
             api:\n  auth:\n    clients:\n      - id: c1\n        secretHash: a\n        sdkKeys: [k]\n\
             <<: {author: Someone}\n",
        )
        .settings;
        assert_eq!(s.webhook.projects[&12345].sdk_keys, ["abc"]);
        assert_eq!(s.webhook.projects[&12345].secret, "s3cr3t");
        assert!(s.webhook.projects[&678].skip_signature_check);
        assert_eq!(s.client.user_profile_service.default, "mine");
        assert!(s.client.user_profile_service.services.contains_key("mine"));
        assert_eq!(s.api.auth.clients[0].id, "c1");
        assert_eq!(s.api.auth.clients[0].sdk_keys, ["k"]);
        assert_eq!(s.author, "Someone");
    }

    #[test]
    fn unknown_keys_warn_with_path_and_file() {
        let loaded = yaml(
            "synchronization:\n  pubsub:\n    redis:\n      bogus: 1\n      max_lenn: 5\n\
             api:\n  Cors:\n    maxAgee: 3\nextra: {a: 1}\n",
        );
        assert_eq!(loaded.settings, Settings::default());
        assert_eq!(
            loaded.warnings,
            [
                "config file ./x.yaml: unknown key `synchronization.pubsub.redis.bogus` (ignored)",
                "config file ./x.yaml: unknown key `synchronization.pubsub.redis.max_lenn` (ignored)",
                "config file ./x.yaml: unknown key `api.cors.maxagee` (ignored)",
                "config file ./x.yaml: unknown key `extra` (ignored)",
            ]
        );
    }

    #[test]
    fn bad_duration_names_file_key_value_and_expectation() {
        assert_eq!(
            yaml_err("synchronization:\n  pubsub:\n    redis:\n      flush_interval: 5x\n"),
            "config file ./x.yaml: key `synchronization.pubsub.redis.flush_interval`: \
             invalid value \"5x\": expected a duration such as 500ms, 5s or 1m"
        );
        assert_eq!(
            yaml_err("client:\n  pollingInterval: 5\n"),
            "config file ./x.yaml: key `client.pollingInterval`: invalid value \"5\": \
             expected a duration such as 500ms, 5s or 1m: a number needs a unit"
        );
        assert_eq!(
            yaml_err("server:\n  readTimeout: -1s\n"),
            "config file ./x.yaml: key `server.readTimeout`: invalid value \"-1s\": \
             expected a duration such as 500ms, 5s or 1m: it cannot be negative"
        );
    }

    #[test]
    fn bad_bool_number_and_shape_errors() {
        assert_eq!(
            yaml_err("api:\n  enableNotifications: maybe\n"),
            "config file ./x.yaml: key `api.enableNotifications`: invalid value \"maybe\": \
             expected a boolean (1, 0, true, false)"
        );
        assert_eq!(
            yaml_err("synchronization:\n  pubsub:\n    redis:\n      batch_size: -3\n"),
            "config file ./x.yaml: key `synchronization.pubsub.redis.batch_size`: \
             invalid value -3: expected a non-negative integer"
        );
        assert_eq!(
            yaml_err("client:\n  cmab:\n    retryConfig:\n      maxRetries: 5000000000\n"),
            "config file ./x.yaml: key `client.cmab.retryConfig.maxRetries`: \
             invalid value 5000000000: expected a non-negative integer no larger than 4294967295"
        );
        assert_eq!(
            yaml_err("server: 5\n"),
            "config file ./x.yaml: key `server`: invalid value 5: expected a mapping of keys"
        );
        assert_eq!(
            yaml_err("server:\n  allowedHosts: {a: 1}\n"),
            "config file ./x.yaml: key `server.allowedHosts`: invalid value {\"a\":1}: \
             expected a list"
        );
        assert_eq!(
            yaml_err("- a\n- b\n"),
            "config file ./x.yaml: key `(top level)`: invalid value [\"a\",\"b\"]: \
             expected a mapping of settings such as `api:` and `server:`"
        );
        assert_eq!(
            yaml_err("webhook:\n  projects:\n    abc: {}\n"),
            "config file ./x.yaml: key `webhook.projects`: invalid value \"abc\": \
             expected a numeric project id"
        );
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            yaml_err("api:\n  port: 70000\n"),
            "config file ./x.yaml: key `api.port`: invalid value \"70000\": \
             expected a port number from 0 to 65535"
        );
        assert_eq!(
            yaml_err("webhook:\n  port: http\n"),
            "config file ./x.yaml: key `webhook.port`: invalid value \"http\": \
             expected a port number from 0 to 65535"
        );
        assert_eq!(
            yaml_err("synchronization:\n  notification:\n    default: kafka\n"),
            "config file ./x.yaml: key `synchronization.notification.default`: \
             invalid value \"kafka\": expected one of redis, redis-streams, redis-pubsub"
        );
        assert_eq!(
            yaml_err("synchronization:\n  datafile:\n    default: ''\n"),
            "config file ./x.yaml: key `synchronization.datafile.default`: \
             invalid value \"\": expected one of redis, redis-streams, redis-pubsub"
        );
        assert_eq!(
            yaml_err("log:\n  level: verbose\n"),
            "config file ./x.yaml: key `log.level`: invalid value \"verbose\": \
             expected one of trace, debug, info, warn, error"
        );
        assert_eq!(
            yaml_err("synchronization:\n  pubsub:\n    redis:\n      batch_size: 0\n"),
            "config file ./x.yaml: key `synchronization.pubsub.redis.batch_size`: \
             invalid value 0: expected an integer of at least 1"
        );
        assert_eq!(
            yaml_err("synchronization:\n  pubsub:\n    redis:\n      retry_delay: 6s\n"),
            "config file ./x.yaml: key `synchronization.pubsub.redis.retry_delay`: \
             invalid value \"6s\": expected a duration no longer than max_retry_delay (5s)"
        );
        assert_eq!(
            yaml_err("synchronization:\n  pubsub:\n    redis:\n      max_retry_delay: 50ms\n"),
            "config file ./x.yaml: key `synchronization.pubsub.redis.max_retry_delay`: \
             invalid value \"50ms\": expected a duration at least as long as retry_delay (100ms)"
        );
        assert_eq!(
            yaml_err("client:\n  sdkKeyRegex: ''\n"),
            "config file ./x.yaml: key `client.sdkKeyRegex`: invalid value \"\": \
             expected a non-empty regular expression"
        );
        assert_eq!(
            yaml_err("admin:\n  metricsType: statsd\n"),
            "config file ./x.yaml: key `admin.metricsType`: invalid value \"statsd\": \
             expected prometheus (Prometheus text), or expvar or \"\" (upstream's expvar JSON)"
        );
    }

    #[test]
    fn validation_normalises_case() {
        let s = yaml("log:\n  level: WARN\nadmin:\n  metricsType: Expvar\n").settings;
        assert_eq!(s.log.level, "warn");
        assert_eq!(s.admin.metrics_type, "expvar");
    }

    #[test]
    fn syntax_error_has_location() {
        let err =
            from_yaml_str("api:\n  port: [8080\n", "./x.yaml", &no_env, Scope::Client).unwrap_err();
        let Error::Syntax { line, column, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(line.is_some() && column.is_some());
        let msg = err.to_string();
        assert!(
            msg.starts_with("config file ./x.yaml: invalid YAML at line "),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn env_overrides_each_kind() {
        let s = env_only(&[
            ("OPTIMIZELY_API_ENABLENOTIFICATIONS", "1"),
            (
                "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_HOST",
                "redis://r:6380",
            ),
            ("OPTIMIZELY_CLIENT_POLLINGINTERVAL", "90s"),
            (
                "OPTIMIZELY_SERVER_ALLOWEDHOSTS",
                "a.example, b.example c.example",
            ),
            ("OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_DATABASE", "3"),
            (
                "OPTIMIZELY_CLIENT_CMAB_RETRYCONFIG_BACKOFFMULTIPLIER",
                "1.5",
            ),
            ("OPTIMIZELY_SDKKEYS", "k1,k2"),
            ("OPTIMIZELY_API_PORT", "9000"),
            ("OPTIMIZELY_LOG_PRETTY", "T"),
        ])
        .unwrap()
        .settings;
        assert!(s.api.enable_notifications);
        assert_eq!(s.synchronization.pubsub.redis.host, "redis://r:6380");
        assert_eq!(s.client.polling_interval, Duration::from_secs(90));
        assert_eq!(
            s.server.allowed_hosts,
            ["a.example", "b.example", "c.example"]
        );
        assert_eq!(s.synchronization.pubsub.redis.database, 3);
        assert!((s.client.cmab.retry_config.backoff_multiplier - 1.5).abs() < f64::EPSILON);
        assert_eq!(s.sdk_keys, ["k1", "k2"]);
        assert_eq!(s.api.port, "9000");
        assert!(s.log.pretty);
    }

    /// An environment that can list its names, like the process environment.
    struct Vars(Vec<(&'static str, &'static str)>);

    impl Environment for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }

        fn prefixed_names(&self) -> Vec<String> {
            self.0
                .iter()
                .filter(|(k, _)| k.starts_with(ENV_PREFIX))
                .map(|(k, _)| (*k).to_owned())
                .collect()
        }
    }

    fn vars(text: &str, pairs: &[(&'static str, &'static str)]) -> Result<Loaded, Error> {
        from_yaml_str(text, "f.yaml", &Vars(pairs.to_vec()), Scope::Client)
    }

    #[test]
    fn map_valued_keys_take_json_objects_as_upstream() {
        // The values upstream's own tests set.
        let loaded = vars(
            "",
            &[
                (
                    "OPTIMIZELY_CLIENT_USERPROFILESERVICE",
                    r#"{"default":"in-memory","services":{"in-memory":{"storagestrategy":"fifo"},"redis":{"host":"localhost:6379","password":""}}}"#,
                ),
                (
                    "OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE",
                    r#"{"default":"in-memory","services":{"in-memory":{"size":100,"timeout":"5s"}}}"#,
                ),
                ("OPTIMIZELY_WEBHOOK_PROJECTS", r#"{"42":{"sdkKeys":["k"],"secret":"s"}}"#),
                (
                    "OPTIMIZELY_API_AUTH_CLIENTS",
                    r#"[{"id":"c1","secretHash":"x","sdkKeys":["k"]}]"#,
                ),
                ("OPTIMIZELY_SDKKEYS", r#"["a", "b"]"#),
            ],
        )
        .unwrap();
        assert_eq!(loaded.warnings, Vec::<String>::new());
        let s = loaded.settings;
        let ups = &s.client.user_profile_service;
        assert_eq!(ups.default, "in-memory");
        assert_eq!(
            ups.services["in-memory"]["storagestrategy"].as_str(),
            Some("fifo")
        );
        assert_eq!(
            ups.services["redis"]["host"].as_str(),
            Some("localhost:6379")
        );
        let cache = &s.client.odp.segments_cache;
        assert_eq!(cache["default"].as_str(), Some("in-memory"));
        assert_eq!(cache["services"]["in-memory"]["size"].as_u64(), Some(100));
        assert_eq!(s.webhook.projects[&42].sdk_keys, ["k"]);
        assert_eq!(s.api.auth.clients[0].id, "c1");
        assert_eq!(s.api.auth.clients[0].sdk_keys, ["k"]);
        assert_eq!(s.sdk_keys, ["a", "b"]);
    }

    #[test]
    fn a_section_variable_replaces_the_file_section_and_leaves_win_over_it() {
        let text = "client:\n  odp:\n    disable: true\n    eventsFlushInterval: 7s\n";
        let s = vars(
            text,
            &[
                (
                    "OPTIMIZELY_CLIENT_ODP",
                    r#"{"segmentsRequestTimeout": "3s"}"#,
                ),
                ("OPTIMIZELY_CLIENT_ODP_EVENTSREQUESTTIMEOUT", "2s"),
                (
                    "OPTIMIZELY_CLIENT_CMAB_RETRYCONFIG",
                    r#"{"MaxRetries": "5"}"#,
                ),
            ],
        )
        .unwrap()
        .settings;
        let odp = &s.client.odp;
        assert!(!odp.disable, "the file's section is replaced");
        assert_eq!(odp.events_flush_interval, Duration::from_secs(1));
        assert_eq!(odp.segments_request_timeout, Duration::from_secs(3));
        assert_eq!(odp.events_request_timeout, Duration::from_secs(2));
        assert_eq!(s.client.cmab.retry_config.max_retries, 5);
    }

    #[test]
    fn unusable_variables_are_warnings_naming_them() {
        let loaded = vars(
            "",
            &[
                ("OPTIMIZELY_CLIENT_USERPROFILESERVICE", "in-memory"),
                ("OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE", r#"{"default": "#),
                ("OPTIMIZELY_NO_SUCH_KEY", "1"),
                ("OPTIMIZELY_CONFIG_FILENAME", "x.yaml"),
                ("OPTIMIZELY_CLIENT_ODP", r#"{"bogus": 1}"#),
                ("OTHER_VARIABLE", "1"),
            ],
        )
        .unwrap();
        assert_eq!(
            loaded.warnings,
            [
                "environment variable OPTIMIZELY_CONFIG_FILENAME is not read: name the config \
                 file with --config or AGENTCTL_CONFIG",
                "environment variable OPTIMIZELY_NO_SUCH_KEY names no configuration key (ignored)",
                "environment variable OPTIMIZELY_CLIENT_USERPROFILESERVICE: key \
                 `client.userProfileService` takes a JSON object (the value is not an object); \
                 ignored",
                "environment variable OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE: key \
                 `client.odp.segmentsCache` takes a JSON object (EOF while parsing a value at \
                 line 1 column 12); ignored",
                "environment variable OPTIMIZELY_CLIENT_ODP: unknown key `client.odp.bogus` (ignored)",
            ]
        );
        assert_eq!(loaded.settings, Settings::default());
    }

    #[test]
    fn bad_values_inside_json_are_errors_naming_the_variable() {
        let err = vars(
            "",
            &[(
                "OPTIMIZELY_CLIENT_ODP",
                r#"{"disable": "perhaps", "password": 1}"#,
            )],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "environment variable OPTIMIZELY_CLIENT_ODP: key `client.odp.disable`: invalid \
             value \"perhaps\": expected a boolean (1, 0, true, false)"
        );
        let err = vars("", &[("OPTIMIZELY_SDKKEYS", "[1, ")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable OPTIMIZELY_SDKKEYS: key `sdkKeys`"),
            "{err}"
        );
    }

    #[test]
    fn env_beats_file_and_empty_env_is_unset() {
        let text = "api:\n  enableNotifications: true\n  port: '1234'\n";
        let env = env_of(&[
            ("OPTIMIZELY_API_ENABLENOTIFICATIONS", "false"),
            ("OPTIMIZELY_API_PORT", ""),
        ]);
        let s = from_yaml_str(text, "f.yaml", &env, Scope::Client)
            .unwrap()
            .settings;
        assert!(!s.api.enable_notifications);
        assert_eq!(s.api.port, "1234");
    }

    #[test]
    fn env_errors_name_the_variable() {
        assert_eq!(
            env_only(&[("OPTIMIZELY_API_ENABLENOTIFICATIONS", "maybe")])
                .unwrap_err()
                .to_string(),
            "environment variable OPTIMIZELY_API_ENABLENOTIFICATIONS: \
             key `api.enableNotifications`: invalid value \"maybe\": \
             expected a boolean (1, 0, true, false)"
        );
        assert_eq!(
            env_only(&[("OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_DATABASE", "two")])
                .unwrap_err()
                .to_string(),
            "environment variable OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_DATABASE: \
             key `synchronization.pubsub.redis.database`: invalid value \"two\": \
             expected an integer"
        );
        assert_eq!(
            env_only(&[(
                "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_FLUSH_INTERVAL",
                "5x"
            )])
            .unwrap_err()
            .to_string(),
            "environment variable OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_FLUSH_INTERVAL: \
             key `synchronization.pubsub.redis.flush_interval`: invalid value \"5x\": \
             expected a duration such as 500ms, 5s or 1m"
        );
        assert_eq!(
            env_only(&[("OPTIMIZELY_ADMIN_PORT", "99999")])
                .unwrap_err()
                .to_string(),
            "environment variable OPTIMIZELY_ADMIN_PORT: key `admin.port`: \
             invalid value \"99999\": expected a port number from 0 to 65535"
        );
        // The file set retry_delay, the environment the maximum it now exceeds.
        let err = from_yaml_str(
            "synchronization:\n  pubsub:\n    redis:\n      max_retry_delay: 1s\n",
            "./x.yaml",
            &env_of(&[(
                "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_MAX_RETRY_DELAY",
                "10ms",
            )]),
            Scope::Client,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_MAX_RETRY_DELAY: \
             key `synchronization.pubsub.redis.max_retry_delay`: invalid value \"10ms\": \
             expected a duration at least as long as retry_delay (100ms)"
        );
    }

    #[test]
    fn password_priority_and_env_fallbacks() {
        let redis_yaml =
            |fields: &str| format!("synchronization:\n  pubsub:\n    redis:\n{fields}");
        let all = redis_yaml("      auth_token: a\n      redis_secret: b\n      password: c\n");
        let both_env = env_of(&[("REDIS_PUBSUB_PASSWORD", "d"), ("REDIS_PASSWORD", "e")]);
        let pw = |text: &str, env: &dyn Environment| {
            let s = from_yaml_str(text, "f", env, Scope::Client)
                .unwrap()
                .settings;
            s.synchronization
                .pubsub
                .redis
                .effective_password()
                .map(str::to_owned)
        };
        assert_eq!(pw(&all, &both_env).as_deref(), Some("a"));
        assert_eq!(
            pw(
                &redis_yaml("      redis_secret: b\n      password: c\n"),
                &both_env
            )
            .as_deref(),
            Some("b")
        );
        assert_eq!(
            pw(&redis_yaml("      password: c\n"), &both_env).as_deref(),
            Some("c")
        );
        assert_eq!(pw("", &both_env).as_deref(), Some("d"));
        assert_eq!(
            pw(
                "",
                &env_of(&[("REDIS_PUBSUB_PASSWORD", ""), ("REDIS_PASSWORD", "e")])
            )
            .as_deref(),
            Some("e")
        );
        assert_eq!(pw("", &no_env), None);
        // The OPTIMIZELY_ variable for a field counts as setting that field.
        assert_eq!(
            pw(
                "",
                &env_of(&[
                    ("OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_AUTH_TOKEN", "t"),
                    ("REDIS_PASSWORD", "e"),
                ])
            )
            .as_deref(),
            Some("t")
        );
    }

    #[test]
    fn secrets_never_printed() {
        let text = "synchronization:\n  pubsub:\n    redis:\n      auth_token: tok-123\n\
                    \x20     password: pw-456\n\
                    webhook:\n  projects:\n    1:\n      secret: hook-789\n\
                    api:\n  auth:\n    hmacSecrets: [hmac-000]\n    clients: [{id: c, secretHash: cs-111}]\n";
        let s = yaml(text).settings;
        let debug = format!("{s:?}");
        for secret in ["tok-123", "pw-456", "hook-789", "hmac-000", "cs-111"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("auth_token: \"***\""), "{debug}");
        assert!(debug.contains("redis_secret: \"\""), "{debug}");
        let printed = serde_yaml_ng::to_string(&s.redacted()).unwrap();
        for secret in ["tok-123", "pw-456", "hook-789", "hmac-000", "cs-111"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }

        let err = yaml_err("synchronization:\n  pubsub:\n    redis:\n      password: [x, y]\n");
        assert_eq!(
            err,
            "config file ./x.yaml: key `synchronization.pubsub.redis.password`: \
             invalid value <redacted>: expected a string"
        );
        let err = yaml_err("api:\n  auth:\n    hmacSecrets: {k: hidden-1}\n");
        assert!(!err.contains("hidden-1"), "{err}");
        assert!(err.contains("<redacted>"), "{err}");
        let err = yaml_err("synchronization:\n  pubsub:\n    redis: [{password: hidden-2}]\n");
        assert!(!err.contains("hidden-2"), "{err}");
        let err = yaml_err("webhook:\n  projects:\n    1:\n      secret: {a: hidden-3}\n");
        assert!(!err.contains("hidden-3"), "{err}");
        assert!(err.contains("webhook.projects.1.secret"), "{err}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        let err = load(Some(&missing), &no_env, Scope::Client).unwrap_err();
        assert!(matches!(&err, Error::Read { path, .. } if *path == missing));
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("config file {}: cannot read: ", missing.display())));
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn explicit_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, "api:\n  enableNotifications: true\n  bogus: 1\n").unwrap();
        let loaded = load(Some(&path), &no_env, Scope::Client).unwrap();
        assert!(loaded.settings.api.enable_notifications);
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
        assert_eq!(
            loaded.warnings,
            [format!(
                "config file {}: unknown key `api.bogus` (ignored)",
                path.display()
            )]
        );
    }

    #[test]
    fn is_set_tells_given_keys_from_defaults() {
        let loaded = yaml("log:\n  Pretty: false\n  level:\n");
        assert!(loaded.is_set("log.pretty"));
        assert!(!loaded.is_set("log.level"), "an empty value is no value");
        assert!(!loaded.is_set("api.port"));
        let loaded = env_only(&[("OPTIMIZELY_LOG_PRETTY", "1")]).unwrap();
        assert!(loaded.is_set("LOG.PRETTY"));
    }

    #[test]
    fn implicit_file_is_optional() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load_in(
            None,
            dir.path(),
            &env_of(&[("OPTIMIZELY_LOG_LEVEL", "debug")]),
            Scope::Client,
        )
        .unwrap();
        assert_eq!(loaded.file, None);
        assert_eq!(loaded.settings.log.level, "debug");

        let path = dir.path().join(DEFAULT_FILE_NAME);
        std::fs::write(&path, "log:\n  level: error\n").unwrap();
        let loaded = load_in(None, dir.path(), &no_env, Scope::Client).unwrap();
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
        assert_eq!(loaded.settings.log.level, "error");
    }

    #[test]
    fn debug_of_redis_settings_masks_only_set_secrets() {
        let redis = RedisSettings {
            redis_secret: "s".to_owned(),
            ..RedisSettings::default()
        };
        let debug = format!("{redis:?}");
        assert!(debug.contains("auth_token: \"\""));
        assert!(debug.contains("redis_secret: \"***\""));
        assert_eq!(redis.effective_password(), Some("s"));
    }
}
