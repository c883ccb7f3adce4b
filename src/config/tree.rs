//! Work on the untyped YAML tree before it becomes [`Settings`](super::Settings):
//! key paths and their upstream spelling, case-insensitive keys, viper-like weak
//! typing of scalars, and (in [`env_vars`]) `OPTIMIZELY_*` environment overrides
//! (scalars and lists as text, sections and free-form maps as JSON objects, as
//! upstream reads them).
//!
//! The shape and types of the settings come from one place: `Settings::default()`
//! serialised to a YAML tree (the "defaults tree"). Nothing here lists keys by hand
//! except [`SPELLINGS`], which only affects how paths are displayed.

use serde_yaml_ng::Value;

mod env_vars;

pub(crate) use env_vars::apply_env;

/// Upstream spelling of the key names that are not all lowercase. Keys are matched
/// case-insensitively; this table only makes messages show the names users know.
const SPELLINGS: &[&str] = &[
    "allowedCredentials",
    "allowedHeaders",
    "allowedHosts",
    "allowedMethods",
    "allowedOrigins",
    "backoffMultiplier",
    "batchRequests",
    "batchSize",
    "blockProfileRate",
    "certFile",
    "datafileRequestTimeout",
    "datafileURLTemplate",
    "disabledCiphers",
    "enableNotifications",
    "enableOverrides",
    "eventShutdownTimeout",
    "eventURL",
    "eventsFlushInterval",
    "eventsRequestTimeout",
    "exposedHeaders",
    "flushInterval",
    "healthCheckPath",
    "hmacSecrets",
    "includeSdkKey",
    "initialBackoff",
    "jwksURL",
    "jwksUpdateInterval",
    "keyFile",
    "maxAge",
    "maxBackoff",
    "maxConcurrency",
    "maxConns",
    "maxRetries",
    "metricsType",
    "notificationBuffer",
    "notificationKeepAlive",
    "mutexProfileFraction",
    "operationsLimit",
    "pollingInterval",
    "predictionEndpoint",
    "queueSize",
    "readTimeout",
    "replayWindow",
    "requestTimeout",
    "retryConfig",
    "sampleRate",
    "sdkKeyRegex",
    "sdkKeys",
    "secretHash",
    "segmentsCache",
    "segmentsRequestTimeout",
    "serviceName",
    "skipSignatureCheck",
    "unknownSdkKeyTTL",
    "userProfileService",
    "writeTimeout",
];

/// Key names whose values are never shown in messages.
const SECRET_KEYS: &[&str] = &[
    "auth_token",
    "redis_secret",
    "password",
    "secret",
    "secrethash",
    "hmacsecrets",
];

/// What an error shows instead of a secret value.
pub(crate) const REDACTED: &str = "<redacted>";

/// The expected-value phrase for a webhook project id (a mapping key).
pub(crate) const EXPECTED_PROJECT_ID: &str = "a numeric project id";

/// The expected-value phrase for booleans, in files and in the environment.
pub(crate) const EXPECTED_BOOL: &str = "a boolean (1, 0, true, false)";

/// The upstream spelling of a lowercased key name (itself when not in the table).
fn spell(key: &str) -> &str {
    SPELLINGS
        .iter()
        .find(|s| s.to_lowercase() == key)
        .copied()
        .unwrap_or(key)
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key, lowercased.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path from the root of the settings tree to one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    /// A path of keys written `a.b.c` (lowercase, no list indices).
    pub(crate) fn dotted(path: &str) -> KeyPath {
        KeyPath(path.split('.').map(|k| Seg::Key(k.to_owned())).collect())
    }

    /// The path at which `serde_path_to_error` reports an error.
    pub(crate) fn from_error_path(path: &serde_path_to_error::Path) -> KeyPath {
        use serde_path_to_error::Segment;
        KeyPath(
            path.iter()
                .filter_map(|seg| match seg {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }

    /// The path of a key that `serde_ignored` reports as unknown.
    pub(crate) fn from_ignored(path: &serde_ignored::Path<'_>) -> KeyPath {
        use serde_ignored::Path;
        let mut segs = Vec::new();
        let mut node = path;
        loop {
            node = match node {
                Path::Root => break,
                Path::Seq { parent, index } => {
                    segs.push(Seg::Index(*index));
                    parent
                }
                Path::Map { parent, key } => {
                    segs.push(Seg::Key(key.clone()));
                    parent
                }
                Path::Some { parent }
                | Path::NewtypeStruct { parent }
                | Path::NewtypeVariant { parent } => parent,
            };
        }
        segs.reverse();
        KeyPath(segs)
    }

    pub(crate) fn push_key(&mut self, key: &str) {
        self.0.push(Seg::Key(key.to_owned()));
    }

    pub(crate) fn push_index(&mut self, index: usize) {
        self.0.push(Seg::Index(index));
    }

    fn pop(&mut self) {
        self.0.pop();
    }

    fn render(&self, spelled: bool) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(if spelled { spell(key) } else { key });
                }
                Seg::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    /// The path as users read it, with upstream spelling: `api.enableNotifications`.
    pub(crate) fn display(&self) -> String {
        self.render(true)
    }

    /// The lowercased path, used as a lookup key: `api.enablenotifications`.
    pub(crate) fn lower(&self) -> String {
        self.render(false)
    }

    /// The last segment, as text (`None` for the root).
    pub(crate) fn last(&self) -> Option<String> {
        self.0.last().map(|seg| match seg {
            Seg::Key(key) => key.clone(),
            Seg::Index(index) => index.to_string(),
        })
    }

    /// The parent path (the root's parent is the root).
    pub(crate) fn parent(&self) -> KeyPath {
        KeyPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// This path and each of its ancestors, longest first, in [`lower`](Self::lower) form.
    pub(crate) fn lower_prefixes(&self) -> Vec<String> {
        (1..=self.0.len())
            .rev()
            .map(|n| KeyPath(self.0[..n].to_vec()).lower())
            .collect()
    }

    /// Whether a value at this path must never be shown.
    pub(crate) fn is_secret(&self) -> bool {
        self.0
            .iter()
            .any(|seg| matches!(seg, Seg::Key(k) if SECRET_KEYS.contains(&k.as_str())))
    }

    /// The value at this path in `root`, if present.
    pub(crate) fn lookup<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut node = root;
        for seg in &self.0 {
            node = match (seg, node) {
                (Seg::Key(key), Value::Mapping(map)) => map
                    .iter()
                    .find(|(k, _)| key_text(k).is_some_and(|k| k == *key))
                    .map(|(_, v)| v)?,
                (Seg::Index(index), Value::Sequence(seq)) => seq.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// A mapping key as text (strings, numbers and booleans).
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Renders a value for an error message on one line; secrets nested in mappings are
/// replaced by [`REDACTED`], long values are shortened.
pub(crate) fn render(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(&without_secrets(other))
            .unwrap_or_else(|_| "(a nested value)".to_owned()),
    };
    const MAX: usize = 100;
    if text.chars().count() > MAX {
        let short: String = text.chars().take(MAX - 3).collect();
        format!("{short}...")
    } else {
        text
    }
}

fn without_secrets(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| {
                    let secret = k
                        .as_str()
                        .is_some_and(|k| SECRET_KEYS.contains(&k.to_lowercase().as_str()));
                    let v = if secret {
                        Value::String(REDACTED.to_owned())
                    } else {
                        without_secrets(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Sequence(seq) => Value::Sequence(seq.iter().map(without_secrets).collect()),
        Value::Tagged(tagged) => without_secrets(&tagged.value),
        other => other.clone(),
    }
}

/// Lowercases every string key, recursively. When two keys of one mapping differ
/// only in case, the later one wins and its path is reported through `duplicate`.
pub(crate) fn lowercase_keys(value: &mut Value, duplicate: &mut dyn FnMut(&KeyPath)) {
    fn walk(value: &mut Value, path: &mut KeyPath, duplicate: &mut dyn FnMut(&KeyPath)) {
        match value {
            Value::Mapping(map) => {
                let old = std::mem::take(map);
                for (key, mut child) in old {
                    let key = match key {
                        Value::String(s) => Value::String(s.to_lowercase()),
                        other => other,
                    };
                    let name = key_text(&key).unwrap_or_default();
                    path.push_key(&name);
                    walk(&mut child, path, duplicate);
                    if map.insert(key, child).is_some() {
                        duplicate(path);
                    }
                    path.pop();
                }
            }
            Value::Sequence(seq) => {
                for (index, child) in seq.iter_mut().enumerate() {
                    path.push_index(index);
                    walk(child, path, duplicate);
                    path.pop();
                }
            }
            Value::Tagged(tagged) => walk(&mut tagged.value, path, duplicate),
            _ => {}
        }
    }
    walk(value, &mut KeyPath::default(), duplicate);
}

/// A value at `path` that cannot take the type of its default.
#[derive(Debug)]
pub(crate) struct BadValue {
    /// Where the value is.
    pub(crate) path: KeyPath,
    /// The offending value, already rendered (or redacted).
    pub(crate) value: String,
    /// What would have been accepted.
    pub(crate) expected: String,
}

impl BadValue {
    fn new(path: &KeyPath, value: &Value, expected: String) -> BadValue {
        BadValue {
            value: if path.is_secret() {
                REDACTED.to_owned()
            } else {
                render(value)
            },
            path: path.clone(),
            expected,
        }
    }
}

/// Brings the file tree to the types of the defaults tree, the way viper's weak
/// decoding does: strings become booleans, numbers or lists where the default is
/// one; numbers and booleans become strings where the default is a string. Keys
/// that are known but set to null are removed (their default applies). Unknown keys
/// and free-form sections are left alone.
pub(crate) fn coerce_tree(value: &mut Value, defaults: &Value) -> Result<(), BadValue> {
    coerce_at(value, defaults, &KeyPath::default())
}

/// [`coerce_tree`] for the value at `path`, whose default is `default`.
fn coerce_at(value: &mut Value, default: &Value, path: &KeyPath) -> Result<(), BadValue> {
    fn walk(value: &mut Value, default: &Value, path: &mut KeyPath) -> Result<(), BadValue> {
        match default {
            Value::Mapping(schema) if !schema.is_empty() => {
                let Value::Mapping(map) = value else {
                    return Ok(()); // deserialisation reports the wrong type
                };
                map.retain(|k, v| {
                    !(v.is_null() && k.as_str().is_some_and(|k| schema.contains_key(k)))
                });
                for (key, child) in map.iter_mut() {
                    let Some(key) = key.as_str() else { continue };
                    let Some(child_default) = schema.get(key) else {
                        continue;
                    };
                    path.push_key(key);
                    walk(child, child_default, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Mapping(_) => Ok(()),
            _ => match coerce_scalar(value, default) {
                Ok(Some(new)) => {
                    *value = new;
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(expected) => Err(BadValue::new(path, value, expected)),
            },
        }
    }
    walk(value, default, &mut path.clone())
}

/// The value `value` becomes for a key whose default is `default` (`None`: keep it as
/// it is), or the expected-value phrase when it cannot be converted.
fn coerce_scalar(value: &Value, default: &Value) -> Result<Option<Value>, String> {
    match (default, value) {
        (Value::Bool(_), Value::Bool(_)) => Ok(None),
        (Value::Bool(_), Value::String(s)) => parse_bool(s.trim())
            .map(|b| Some(Value::Bool(b)))
            .ok_or_else(|| EXPECTED_BOOL.to_owned()),
        (Value::Bool(_), Value::Number(n)) => match n.as_u64() {
            Some(0) => Ok(Some(Value::Bool(false))),
            Some(1) => Ok(Some(Value::Bool(true))),
            _ => Err(EXPECTED_BOOL.to_owned()),
        },
        (Value::Bool(_), _) => Err(EXPECTED_BOOL.to_owned()),
        (Value::Number(_), Value::Number(_)) => Ok(None),
        (Value::Number(d), Value::String(s)) => parse_number(s.trim(), d.is_f64())
            .map(Some)
            .ok_or_else(|| number_expected(d.is_f64())),
        (Value::Number(d), _) => Err(number_expected(d.is_f64())),
        (Value::String(_), Value::Number(n)) => Ok(Some(Value::String(n.to_string()))),
        (Value::String(_), Value::Bool(b)) => Ok(Some(Value::String(b.to_string()))),
        (Value::Sequence(_), Value::String(s)) => Ok(Some(split_list(s))),
        _ => Ok(None),
    }
}

fn number_expected(float: bool) -> String {
    if float { "a number" } else { "an integer" }.to_owned()
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn parse_number(s: &str, float: bool) -> Option<Value> {
    if float {
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| Value::Number(f.into()));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    s.parse::<u64>().ok().map(|u| Value::Number(u.into()))
}

/// A list written as one string: items separated by commas and/or whitespace.
fn split_list(s: &str) -> Value {
    Value::Sequence(
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn defaults() -> Value {
        serde_yaml_ng::to_value(crate::config::Settings::default()).unwrap()
    }

    #[test]
    fn every_spelling_names_a_real_key() {
        fn keys(value: &Value, out: &mut Vec<String>) {
            if let Value::Mapping(map) = value {
                for (k, v) in map {
                    out.push(k.as_str().unwrap().to_owned());
                    keys(v, out);
                }
            }
        }
        let mut all = Vec::new();
        keys(&defaults(), &mut all);
        // Keys of list items and map values, absent from the (empty) defaults.
        let project = crate::config::WebhookProjectSettings::default();
        keys(&serde_yaml_ng::to_value(project).unwrap(), &mut all);
        let client = crate::config::AuthClientSettings::default();
        keys(&serde_yaml_ng::to_value(client).unwrap(), &mut all);
        for spelling in SPELLINGS {
            let lower = spelling.to_lowercase();
            assert!(
                all.contains(&lower),
                "{spelling} is not a key of the settings"
            );
        }
    }

    #[test]
    fn paths_render_with_upstream_spelling() {
        let path = KeyPath::dotted("client.cmab.retryconfig.maxretries");
        assert_eq!(path.display(), "client.cmab.retryConfig.maxRetries");
        assert_eq!(path.lower(), "client.cmab.retryconfig.maxretries");
        let mut path = KeyPath::dotted("api.auth.clients");
        path.push_index(2);
        path.push_key("secrethash");
        assert_eq!(path.display(), "api.auth.clients[2].secretHash");
        assert!(path.is_secret());
        assert_eq!(
            path.lower_prefixes(),
            [
                "api.auth.clients[2].secrethash",
                "api.auth.clients[2]",
                "api.auth.clients",
                "api.auth",
                "api"
            ]
        );
    }

    #[test]
    fn render_hides_nested_secrets_and_shortens() {
        let v: Value = serde_yaml_ng::from_str("{host: h, Password: hunter2}").unwrap();
        assert_eq!(render(&v), r#"{"host":"h","Password":"<redacted>"}"#);
        let long = Value::String("x".repeat(300));
        assert_eq!(render(&long).chars().count(), 100);
        assert_eq!(render(&Value::String("a\nb".into())), r#""a\nb""#);
    }

    #[test]
    fn split_list_drops_empty_items() {
        let v = split_list(" a, b ,,c\td ");
        let want: Value = serde_yaml_ng::from_str("[a, b, c, d]").unwrap();
        assert_eq!(v, want);
    }
}
