//! A flag's typed variables as a decision serves them. They depend only on the flag
//! and the variation, so they are computed once per datafile for every variation a
//! flag can serve, and each decision shares them (an `Arc`) with its response and
//! its notification: the typed map, its JSON in the two encodings the service writes
//! (Go's HTML-safe one for responses, serde_json's for notifications) and the error
//! reasons invalid values give.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::datafile::{FlagVariable, Variation};
use super::gojson::write_go_json;

/// The typed variables of one (flag, variation); cheap to clone.
#[derive(Clone)]
pub struct Variables(Arc<Typed>);

struct Typed {
    map: Map<String, Value>,
    /// `map` as Go's encoder writes it (`None` only if that failed, which a map of
    /// JSON values cannot: the map is then encoded when served).
    go_json: Option<Box<RawValue>>,
    /// `map` as serde_json writes it (as `go_json`).
    json: Option<Box<RawValue>>,
    /// One error reason per variable whose value does not parse as its type.
    errors: Vec<String>,
}

/// The variables of `EXCLUDE_VARIABLES`: none.
static NONE: LazyLock<Variables> = LazyLock::new(|| Variables::new(Map::new(), Vec::new()));

impl Variables {
    fn new(map: Map<String, Value>, errors: Vec<String>) -> Self {
        let mut go = Vec::new();
        let go_json = write_go_json(&mut go, &map)
            .ok()
            .and_then(|()| String::from_utf8(go).ok())
            .and_then(|text| RawValue::from_string(text).ok());
        let json = serde_json::value::to_raw_value(&map).ok();
        Variables(Arc::new(Typed {
            map,
            go_json,
            json,
            errors,
        }))
    }

    /// No variables (`EXCLUDE_VARIABLES`).
    pub(crate) fn none() -> Self {
        NONE.clone()
    }

    /// A flag's `variables`, typed: the variation's value when it is enabled and
    /// defines the variable, else the default.
    pub(crate) fn compute(variables: &[FlagVariable], variation: Option<&Variation>) -> Self {
        let mut map = Map::new();
        let mut errors = Vec::new();
        for var in variables {
            let text = variation
                .filter(|v| v.feature_enabled)
                .and_then(|v| v.variable(&var.id))
                .unwrap_or(&var.default_value);
            let (value, ok) = typed_value(&var.kind, text);
            if !ok {
                errors.push(format!(
                    "Variable value for key \"{}\" is invalid or wrong type.",
                    var.key
                ));
            }
            map.insert(var.key.clone(), value);
        }
        Variables::new(map, errors)
    }

    /// Whether there are none (the flag has no variables, or they were excluded).
    pub fn is_empty(&self) -> bool {
        self.0.map.is_empty()
    }

    /// The error reasons of invalid values, in variable order.
    pub(crate) fn errors(&self) -> &[String] {
        &self.0.errors
    }

    /// Serialises as serde_json encodes the map (the notification's encoding), for
    /// `#[serde(serialize_with)]`.
    pub(crate) fn serialize_plain<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0.json {
            Some(json) => json.serialize(serializer),
            None => self.0.map.serialize(serializer),
        }
    }
}

impl Deref for Variables {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.0.map
    }
}

/// Serialises as Go's encoder writes the map (the responses' encoding).
impl Serialize for Variables {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0.go_json {
            Some(json) => json.serialize(serializer),
            None => self.0.map.serialize(serializer),
        }
    }
}

impl PartialEq for Variables {
    fn eq(&self, other: &Self) -> bool {
        self.0.map == other.0.map
    }
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.map.fmt(f)
    }
}

/// Every variation a flag can serve, with its variables computed once.
#[derive(Clone, Debug)]
pub(crate) struct FlagVariables {
    /// Without a variation, or with a disabled one: the defaults.
    default: Variables,
    /// Enabled variations by id. An id used by two variations that disagree is
    /// left out (computed when served), so a lookup never answers for the wrong one.
    by_variation: HashMap<String, Variables>,
}

impl FlagVariables {
    /// Computes a flag's `variables` for each of `variations` (the variations of
    /// every rule that can serve the flag).
    pub(crate) fn new<'a>(
        variables: &[FlagVariable],
        variations: impl Iterator<Item = &'a Variation>,
    ) -> Self {
        let mut by_variation = HashMap::new();
        let mut ambiguous = Vec::new();
        for variation in variations.filter(|v| v.feature_enabled) {
            let computed = Variables::compute(variables, Some(variation));
            if let Some(seen) = by_variation.get(&variation.id)
                && *seen != computed
            {
                ambiguous.push(variation.id.clone());
            }
            by_variation.insert(variation.id.clone(), computed);
        }
        for id in ambiguous {
            by_variation.remove(&id);
        }
        FlagVariables {
            default: Variables::compute(variables, None),
            by_variation,
        }
    }

    /// The variables served with `variation`; `variables` are the flag's (whose
    /// cache this is), for a variation not computed in advance.
    pub(crate) fn get(
        &self,
        variables: &[FlagVariable],
        variation: Option<&Variation>,
    ) -> Variables {
        match variation.filter(|v| v.feature_enabled) {
            None => self.default.clone(),
            Some(v) => self
                .by_variation
                .get(&v.id)
                .cloned()
                .unwrap_or_else(|| Variables::compute(variables, Some(v))),
        }
    }
}

/// A variable's value text as its type; `false` when the text is not of that type
/// (the value is then the type's zero, as go-sdk's).
fn typed_value(kind: &str, text: &str) -> (Value, bool) {
    match kind {
        "boolean" => {
            parse_go_bool(text).map_or((Value::Bool(false), false), |b| (Value::Bool(b), true))
        }
        "integer" => text
            .parse::<i64>()
            .map_or((json!(0), false), |i| (json!(i), true)),
        "double" => match text.parse::<f64>() {
            // JSON has no infinities; Go could not encode them either.
            Ok(x) => (
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
                true,
            ),
            Err(_) => (json!(0), false),
        },
        "json" => match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(m) => (Value::Object(m), true),
            Err(_) => (Value::Null, false),
        },
        _ => (Value::String(text.to_string()), true),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(key: &str, kind: &str, default: &str) -> FlagVariable {
        FlagVariable {
            id: format!("id-{key}"),
            key: key.to_string(),
            kind: kind.to_string(),
            default_value: default.to_string(),
        }
    }

    fn variation(id: &str, enabled: bool, values: &[(&str, &str)]) -> Variation {
        Variation {
            id: id.to_string(),
            key: format!("key-{id}"),
            feature_enabled: enabled,
            variables: values
                .iter()
                .map(|(k, v)| (format!("id-{k}"), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn values_are_typed_and_invalid_ones_give_reasons() {
        let variables: Vec<FlagVariable> = [
            ("b", "boolean", "T"),
            ("b2", "boolean", "yes"),
            ("i", "integer", "-12"),
            ("i2", "integer", "1.5"),
            ("d", "double", "1e3"),
            ("d2", "double", "x"),
            ("j", "json", r#"{"a":[1]}"#),
            ("j2", "json", "[1]"),
            ("s", "string", "txt"),
        ]
        .iter()
        .map(|(k, t, v)| variable(k, t, v))
        .collect();
        let vars = Variables::compute(&variables, None);
        assert_eq!(
            Value::Object((*vars).clone()),
            json!({"b": true, "b2": false, "i": -12, "i2": 0, "d": 1000.0, "d2": 0,
                   "j": {"a": [1]}, "j2": null, "s": "txt"})
        );
        assert_eq!(
            vars.errors(),
            [
                "Variable value for key \"b2\" is invalid or wrong type.",
                "Variable value for key \"i2\" is invalid or wrong type.",
                "Variable value for key \"d2\" is invalid or wrong type.",
                "Variable value for key \"j2\" is invalid or wrong type."
            ]
        );
    }

    #[test]
    fn responses_get_go_escaping_and_notifications_serde_json_escaping() {
        let variables = [variable("s", "string", "<b>&")];
        let vars = Variables::compute(&variables, None);
        #[derive(Serialize)]
        struct Plain<'a>(#[serde(serialize_with = "Variables::serialize_plain")] &'a Variables);
        assert_eq!(
            serde_json::to_string(&Plain(&vars)).unwrap(),
            r#"{"s":"<b>&"}"#
        );
        let mut go = Vec::new();
        write_go_json(&mut go, &vars).unwrap();
        assert_eq!(
            String::from_utf8(go).unwrap(),
            r#"{"s":"\u003cb\u003e\u0026"}"#
        );
    }

    #[test]
    fn enabled_variations_are_served_from_the_cache_and_disabled_ones_get_defaults() {
        let variables = [variable("n", "integer", "1"), variable("s", "string", "d")];
        let on = variation("v1", true, &[("n", "2")]);
        let off = variation("v2", false, &[("n", "3")]);
        let cache = FlagVariables::new(&variables, [&on, &off].into_iter());
        assert_eq!(
            *cache.get(&variables, Some(&on)),
            *json!({"n": 2, "s": "d"}).as_object().unwrap()
        );
        assert!(Arc::ptr_eq(
            &cache.get(&variables, Some(&on)).0,
            &cache.by_variation["v1"].0
        ));
        assert_eq!(
            *cache.get(&variables, Some(&off)),
            *json!({"n": 1, "s": "d"}).as_object().unwrap()
        );
        assert_eq!(
            *cache.get(&variables, None),
            *json!({"n": 1, "s": "d"}).as_object().unwrap()
        );
        // Not seen at load time: computed when served.
        let other = variation("v3", true, &[("s", "x")]);
        assert_eq!(
            *cache.get(&variables, Some(&other)),
            *json!({"n": 1, "s": "x"}).as_object().unwrap()
        );
    }

    #[test]
    fn an_id_two_variations_disagree_on_is_never_answered_from_the_cache() {
        let variables = [variable("n", "integer", "1")];
        let first = variation("v", true, &[("n", "2")]);
        let second = variation("v", true, &[("n", "3")]);
        let cache = FlagVariables::new(&variables, [&first, &second].into_iter());
        assert!(!cache.by_variation.contains_key("v"));
        assert_eq!(cache.get(&variables, Some(&first))["n"], 2);
        assert_eq!(cache.get(&variables, Some(&second))["n"], 3);
    }
}
