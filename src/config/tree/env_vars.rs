//! `OPTIMIZELY_*` environment overrides of the untyped YAML tree: one variable per
//! key of the defaults tree, scalars and lists as text, sections and free-form maps
//! as JSON objects, as upstream reads them; typed like file values.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use super::{BadValue, KeyPath, Seg, coerce_at, coerce_scalar, lowercase_keys};
use crate::config::env::{ENV_PREFIX, Environment};

/// Keys for which an empty environment variable is a value, not "unset": an empty
/// URL turns the feature off (`OPTIMIZELY_CLIENT_EVENTURL=` sends events nowhere).
/// Every other empty variable counts as unset, as upstream's viper does.
const EMPTY_IS_A_VALUE: &[&str] = &["client.eventurl", "client.datafileurltemplate"];

/// Every key that has an environment override, with its default value, parents
/// before their children: every section and free-form map (set as a JSON object)
/// and every leaf.
fn env_keys(defaults: &Value) -> Vec<(KeyPath, &Value)> {
    fn walk<'a>(value: &'a Value, path: &mut KeyPath, out: &mut Vec<(KeyPath, &'a Value)>) {
        if !path.0.is_empty() {
            out.push((path.clone(), value));
        }
        if let Value::Mapping(map) = value {
            for (key, child) in map {
                if let Some(key) = key.as_str() {
                    path.push_key(key);
                    walk(child, path, out);
                    path.pop();
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(defaults, &mut KeyPath::default(), &mut out);
    out
}

/// The environment variable that overrides the key at `path`.
pub(crate) fn env_var_name(path: &KeyPath) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.lower().replace('.', "_").to_uppercase()
    )
}

/// An environment variable whose value cannot take the type of its key.
#[derive(Debug)]
pub(crate) struct BadEnv {
    /// The variable's name.
    pub(crate) var: String,
    /// What is wrong with its value.
    pub(crate) bad: BadValue,
}

/// What [`apply_env`] did.
#[derive(Debug, Default)]
pub(crate) struct EnvApplied {
    /// For each applied override, its lowercased key path → the variable's name.
    pub(crate) overridden: BTreeMap<String, String>,
    /// Variables that name no key or whose value cannot be used (and were ignored).
    pub(crate) warnings: Vec<String>,
}

/// Applies the set, non-empty `OPTIMIZELY_*` variables to `root`, parents before
/// children, so `OPTIMIZELY_CLIENT_ODP='{"disable": true}'` replaces the whole
/// section and `OPTIMIZELY_CLIENT_ODP_DISABLE` then overrides inside it.
///
/// A section or free-form map takes a JSON object (anything else is a warning); a
/// list takes a JSON array or items separated by commas or spaces; a scalar takes
/// text weakly typed as in files. Variables with the prefix that name no key are
/// warnings.
///
/// # Errors
///
/// [`BadEnv`] when a value (or a value inside a JSON object) cannot take the type
/// of its key.
pub(crate) fn apply_env(
    root: &mut Value,
    defaults: &Value,
    env: &dyn Environment,
) -> Result<EnvApplied, BadEnv> {
    let keys = env_keys(defaults);
    let mut applied = EnvApplied::default();
    let mut known: Vec<String> = keys.iter().map(|(path, _)| env_var_name(path)).collect();
    known.sort();
    let mut unknown: Vec<String> = env
        .prefixed_names()
        .into_iter()
        .filter(|name| known.binary_search(name).is_err())
        .collect();
    unknown.sort();
    applied
        .warnings
        .extend(unknown.iter().map(|name| unknown_var(name)));

    for (path, default) in keys {
        let var = env_var_name(&path);
        let empty_means_empty = EMPTY_IS_A_VALUE.contains(&path.lower().as_str());
        let Some(raw) = env.var(&var).filter(|v| empty_means_empty || !v.is_empty()) else {
            continue;
        };
        let bad = |bad: BadValue| BadEnv {
            var: var.clone(),
            bad,
        };
        let value = match default {
            Value::Mapping(_) => match json_value(&raw, '{') {
                Ok(mut value) => {
                    lowercase_keys(&mut value, &mut |dup| {
                        applied.warnings.push(format!(
                            "environment variable {var}: key `{}` is given more than once \
                             (keys ignore case); the last one wins",
                            dup.display()
                        ));
                    });
                    coerce_at(&mut value, default, &path).map_err(bad)?;
                    value
                }
                Err(why) => {
                    applied.warnings.push(format!(
                        "environment variable {var}: key `{}` takes a JSON object ({why}); ignored",
                        path.display()
                    ));
                    continue;
                }
            },
            Value::Sequence(_) if raw.trim_start().starts_with('[') => {
                match json_value(&raw, '[') {
                    Ok(mut value) => {
                        lowercase_keys(&mut value, &mut |_| {});
                        value
                    }
                    Err(why) => {
                        let value = Value::String(raw);
                        return Err(bad(BadValue::new(
                            &path,
                            &value,
                            format!("a JSON array, or items separated by commas ({why})"),
                        )));
                    }
                }
            }
            _ => {
                let raw = Value::String(raw);
                match coerce_scalar(&raw, default) {
                    Ok(new) => new.unwrap_or(raw),
                    Err(expected) => return Err(bad(BadValue::new(&path, &raw, expected))),
                }
            }
        };
        if insert(root, &path, value) {
            applied.overridden.insert(path.lower(), var);
        }
    }
    Ok(applied)
}

/// The warning for a variable with the prefix that names no key.
fn unknown_var(name: &str) -> String {
    if name == "OPTIMIZELY_CONFIG_FILENAME" {
        format!(
            "environment variable {name} is not read: name the config file with --config \
             or AGENTCTL_CONFIG"
        )
    } else {
        format!("environment variable {name} names no configuration key (ignored)")
    }
}

/// `raw` parsed as JSON whose text opens with `open` (`{` or `[`), as a YAML tree.
/// The error says why not, without repeating the value (it may hold a secret).
fn json_value(raw: &str, open: char) -> Result<Value, String> {
    let kind = if open == '{' { "an object" } else { "an array" };
    if !raw.trim_start().starts_with(open) {
        return Err(format!("the value is not {kind}"));
    }
    let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    serde_yaml_ng::to_value(json).map_err(|e| e.to_string())
}

/// Sets the value at a path of keys, creating mappings on the way. Returns false
/// (and changes nothing) when a value on the way is not a mapping: the file's wrong
/// value is then reported by deserialisation.
fn insert(root: &mut Value, path: &KeyPath, value: Value) -> bool {
    let mut node = root;
    for seg in &path.0 {
        let Seg::Key(key) = seg else { return false };
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return false;
        };
        node = map.entry(Value::String(key.clone())).or_insert(Value::Null);
    }
    *node = value;
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn env_var_names_are_unique_and_upstream_shaped() {
        let names: Vec<String> =
            env_keys(&serde_yaml_ng::to_value(crate::config::Settings::default()).unwrap())
                .iter()
                .map(|(p, _)| env_var_name(p))
                .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for want in [
            "OPTIMIZELY_API_ENABLENOTIFICATIONS",
            "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_HOST",
            "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_AUTH_TOKEN",
            "OPTIMIZELY_CLIENT_POLLINGINTERVAL",
            "OPTIMIZELY_SERVER_ALLOWEDHOSTS",
            "OPTIMIZELY_SDKKEYS",
            "OPTIMIZELY_CLIENT_CMAB_CACHE_TYPE",
            "OPTIMIZELY_ADMIN_AUTH_HMACSECRETS",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want}");
        }
        // Sections and free-form maps take JSON objects.
        for want in [
            "OPTIMIZELY_WEBHOOK_PROJECTS",
            "OPTIMIZELY_CLIENT_USERPROFILESERVICE",
            "OPTIMIZELY_CLIENT_USERPROFILESERVICE_SERVICES",
            "OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE",
            "OPTIMIZELY_CLIENT_CMAB_CACHE",
            "OPTIMIZELY_API_AUTH_CLIENTS",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want}");
        }
    }
}
