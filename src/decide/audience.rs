//! Audience evaluation with three-valued logic (`Some(true)`, `Some(false)`, `None`
//! for UNKNOWN): audience-reference trees (leaves are audience ids) and condition
//! trees (leaves are attribute conditions), and every match type.

use serde_json::Value;

use super::User;
use super::condition::{Condition, Tree};
use super::datafile::ProjectConfig;
use super::semver;
use super::text::Reasons;

/// Evaluates a tree, asking `leaf` for each leaf reached. `and` stops at the first
/// child that is not TRUE and `or` at the first TRUE one, as go-sdk does (which
/// matters for the reasons the leaves add).
fn evaluate<L>(tree: &Tree<L>, leaf: &mut dyn FnMut(&L) -> Option<bool>) -> Option<bool> {
    match tree {
        Tree::And(children) => {
            for child in children {
                let r = evaluate(child, leaf);
                if r != Some(true) {
                    return r;
                }
            }
            Some(true)
        }
        Tree::Or(children) => {
            let mut unknown = false;
            for child in children {
                match evaluate(child, leaf) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Tree::Not(children) => children.first().and_then(|c| evaluate(c, leaf)).map(|b| !b),
        Tree::Leaf(l) => leaf(l),
        Tree::Invalid => None,
    }
}

/// Whether the user is in a rule's audience; an UNKNOWN root counts as not.
pub(crate) fn user_in_audience(
    config: &ProjectConfig,
    tree: Option<&Tree<String>>,
    user: &User,
    reasons: &mut Reasons,
) -> bool {
    let Some(tree) = tree else { return true };
    let mut leaf = |id: &String| -> Option<bool> {
        let Some(audience) = config.audience(id) else {
            reasons.info(format_args!(
                "unable to evaluate nested tree for audience ID \"{id}\""
            ));
            return None;
        };
        let result = evaluate(&audience.tree, &mut |c| {
            evaluate_condition(c, user, reasons)
        });
        if result.is_none() {
            reasons.info(format_args!(
                "an error occurred while evaluating nested tree for audience ID \"{id}\""
            ));
        }
        result
    };
    evaluate(tree, &mut leaf) == Some(true)
}

fn as_number(v: &Value) -> Option<f64> {
    // Go decodes every JSON number to float64, and bools are not numbers.
    v.as_f64()
}

/// One leaf condition against the user's attributes.
pub(crate) fn evaluate_condition(
    c: &Condition,
    user: &User,
    reasons: &mut Reasons,
) -> Option<bool> {
    if c.kind != "custom_attribute" && c.kind != "third_party_dimension" {
        reasons.info(format_args!(
            "unable to evaluate condition of type \"{}\"",
            c.kind
        ));
        return None;
    }
    let attr = user.attribute(&c.name).filter(|v| !v.is_null());
    let matcher = if c.matcher.is_empty() {
        "exact"
    } else {
        c.matcher.as_str()
    };
    match matcher {
        "exists" => Some(attr.is_some()),
        "exact" => match (&c.value, attr?) {
            (Value::String(want), Value::String(got)) => Some(want == got),
            (Value::Bool(want), Value::Bool(got)) => Some(want == got),
            (Value::Number(want), Value::Number(got)) => Some(want.as_f64() == got.as_f64()),
            _ => None,
        },
        "substring" => match (&c.value, attr?) {
            (Value::String(want), Value::String(got)) => Some(got.contains(want.as_str())),
            _ => None,
        },
        "gt" | "ge" | "lt" | "le" => {
            let want = as_number(&c.value)?;
            let got = as_number(attr?)?;
            Some(match matcher {
                "gt" => got > want,
                "ge" => got >= want,
                "lt" => got < want,
                _ => got <= want,
            })
        }
        "semver_eq" | "semver_gt" | "semver_ge" | "semver_lt" | "semver_le" => {
            let target = c.value.as_str()?;
            let got = attr?.as_str()?;
            let cmp = semver::compare(got, target).ok()?;
            Some(match matcher {
                "semver_eq" => cmp == 0,
                "semver_gt" => cmp > 0,
                "semver_ge" => cmp >= 0,
                "semver_lt" => cmp < 0,
                _ => cmp <= 0,
            })
        }
        // A segment the user was not found qualified for (or segments that were
        // not fetched) does not match; a segment name that is not a string is UNKNOWN.
        "qualified" => c
            .value
            .as_str()
            .map(|segment| user.segments.iter().flatten().any(|s| s == segment)),
        other => {
            reasons.info(format_args!("invalid Condition matcher \"{other}\""));
            None
        }
    }
}

/// Renders `audienceConditions` for OptimizelyConfig: names quoted, operators
/// upper-cased between operands, sub-lists in parentheses, OR when no operator.
pub(crate) fn serialize_audiences(conditions: &Value, name_of: &dyn Fn(&str) -> String) -> String {
    match conditions {
        Value::String(id) => format!("\"{}\"", name_of(id)),
        Value::Array(items) => {
            let (op, rest) = match items.first().and_then(Value::as_str) {
                Some(op @ ("and" | "or" | "not")) => (op.to_uppercase(), &items[1..]),
                _ => ("OR".to_string(), &items[..]),
            };
            let operands: Vec<String> = rest
                .iter()
                .filter_map(|item| match item {
                    Value::Array(_) => Some(format!("({})", serialize_audiences(item, name_of))),
                    Value::String(id) => Some(format!("\"{}\"", name_of(id))),
                    _ => None,
                })
                .collect();
            if op == "NOT" {
                operands
                    .iter()
                    .map(|o| format!("NOT {o}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                operands.join(&format!(" {op} "))
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::condition::{parse_condition_tree, parse_ref_tree};
    use serde_json::json;

    fn user(attrs: Value) -> User {
        User {
            id: "u".into(),
            attributes: attrs.as_object().cloned(),
            segments: None,
        }
    }

    fn cond(v: Value) -> Condition {
        match parse_condition_tree(&v) {
            Tree::Leaf(c) => c,
            other => panic!("not a leaf: {other:?}"),
        }
    }

    fn eval(c: Value, attrs: Value) -> Option<bool> {
        let mut r = Reasons::new(true);
        evaluate_condition(&cond(c), &user(attrs), &mut r)
    }

    fn c(m: &str, v: Value) -> Value {
        json!({"type": "custom_attribute", "name": "a", "match": m, "value": v})
    }

    #[test]
    fn exists() {
        assert_eq!(eval(c("exists", json!(null)), json!({"a": 1})), Some(true));
        assert_eq!(
            eval(c("exists", json!(null)), json!({"a": null})),
            Some(false)
        );
        assert_eq!(eval(c("exists", json!(null)), json!({})), Some(false));
    }

    #[test]
    fn exact() {
        assert_eq!(eval(c("exact", json!("x")), json!({"a": "x"})), Some(true));
        assert_eq!(eval(c("exact", json!("x")), json!({"a": "y"})), Some(false));
        assert_eq!(eval(c("exact", json!("x")), json!({"a": 1})), None);
        assert_eq!(eval(c("exact", json!("x")), json!({})), None);
        assert_eq!(eval(c("exact", json!("x")), json!({"a": null})), None);
        assert_eq!(
            eval(c("exact", json!(true)), json!({"a": true})),
            Some(true)
        );
        assert_eq!(eval(c("exact", json!(true)), json!({"a": "true"})), None);
        assert_eq!(eval(c("exact", json!(3)), json!({"a": 3.0})), Some(true));
        assert_eq!(eval(c("exact", json!(3)), json!({"a": 4})), Some(false));
        assert_eq!(eval(c("exact", json!(3)), json!({"a": true})), None);
        assert_eq!(eval(c("exact", json!(null)), json!({"a": 1})), None);
        assert_eq!(eval(c("exact", json!([1])), json!({"a": [1]})), None);
        // A missing match means exact.
        let no_match = json!({"type": "custom_attribute", "name": "a", "value": "x"});
        assert_eq!(eval(no_match, json!({"a": "x"})), Some(true));
    }

    #[test]
    fn substring_and_numbers() {
        assert_eq!(
            eval(c("substring", json!("ol")), json!({"a": "hola"})),
            Some(true)
        );
        assert_eq!(
            eval(c("substring", json!("x")), json!({"a": "hola"})),
            Some(false)
        );
        assert_eq!(eval(c("substring", json!("x")), json!({"a": 5})), None);
        assert_eq!(eval(c("gt", json!(5)), json!({"a": 6})), Some(true));
        assert_eq!(eval(c("gt", json!(5)), json!({"a": 5})), Some(false));
        assert_eq!(eval(c("ge", json!(5)), json!({"a": 5})), Some(true));
        assert_eq!(eval(c("lt", json!(5)), json!({"a": 4.5})), Some(true));
        assert_eq!(eval(c("le", json!(5)), json!({"a": 5.1})), Some(false));
        assert_eq!(eval(c("lt", json!(5)), json!({"a": "4"})), None);
        assert_eq!(eval(c("lt", json!("5")), json!({"a": 4})), None);
        assert_eq!(eval(c("lt", json!(5)), json!({})), None);
    }

    #[test]
    fn semver_matchers() {
        assert_eq!(
            eval(c("semver_eq", json!("2.0")), json!({"a": "2.0.0"})),
            Some(true)
        );
        assert_eq!(
            eval(c("semver_gt", json!("2.0")), json!({"a": "2.9"})),
            Some(true)
        );
        assert_eq!(
            eval(c("semver_ge", json!("2.0")), json!({"a": "1.9"})),
            Some(false)
        );
        assert_eq!(
            eval(c("semver_lt", json!("2.1.2-beta")), json!({"a": "2.1.2"})),
            Some(true)
        );
        assert_eq!(
            eval(c("semver_le", json!("2.0")), json!({"a": "2.0.0"})),
            Some(true)
        );
        assert_eq!(
            eval(c("semver_eq", json!("2.0")), json!({"a": "3.x"})),
            None
        );
        assert_eq!(eval(c("semver_eq", json!("2.0")), json!({"a": 2})), None);
        assert_eq!(eval(c("semver_eq", json!(2)), json!({"a": "2"})), None);
    }

    #[test]
    fn qualified_type_and_matcher_errors() {
        let q = json!({"type": "third_party_dimension", "name": "odp.audiences",
                       "match": "qualified", "value": "seg"});
        assert_eq!(eval(q, json!({})), Some(false));
        let q = json!({"type": "third_party_dimension", "name": "odp.audiences",
                       "match": "qualified", "value": 1});
        assert_eq!(eval(q, json!({})), None);

        let q = cond(
            json!({"type": "third_party_dimension", "name": "odp.audiences",
                            "match": "qualified", "value": "seg"}),
        );
        let mut fetched = user(json!({}));
        fetched.segments = Some(vec!["other".into(), "seg".into()]);
        let mut r = Reasons::new(true);
        assert_eq!(evaluate_condition(&q, &fetched, &mut r), Some(true));
        fetched.segments = Some(vec!["other".into()]);
        assert_eq!(evaluate_condition(&q, &fetched, &mut r), Some(false));

        let mut r = Reasons::new(true);
        let bad_type = cond(json!({"type": "weird", "name": "a", "value": 1}));
        assert_eq!(
            evaluate_condition(&bad_type, &user(json!({"a": 1})), &mut r),
            None
        );
        let bad_match = cond(c("regex", json!("x")));
        assert_eq!(
            evaluate_condition(&bad_match, &user(json!({"a": "x"})), &mut r),
            None
        );
        assert_eq!(
            r.report(),
            vec![
                "unable to evaluate condition of type \"weird\"",
                "invalid Condition matcher \"regex\""
            ]
        );
    }

    fn tri(tree: Value) -> Option<bool> {
        // Leaves are "t", "f" or "u".
        let t = parse_ref_tree(&tree).unwrap();
        evaluate(&t, &mut |l: &String| match l.as_str() {
            "t" => Some(true),
            "f" => Some(false),
            _ => None,
        })
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(tri(json!(["or", "f", "u"])), None);
        assert_eq!(tri(json!(["or", "u", "t"])), Some(true));
        assert_eq!(tri(json!(["or", "f", "f"])), Some(false));
        assert_eq!(
            tri(json!(["and", "t", "u", "f"])),
            None,
            "go stops at the first non-TRUE"
        );
        assert_eq!(tri(json!(["and", "t", "f", "u"])), Some(false));
        assert_eq!(tri(json!(["and", "t", "t"])), Some(true));
        assert_eq!(tri(json!(["not", "t"])), Some(false));
        assert_eq!(tri(json!(["not", "u"])), None);
        assert_eq!(tri(json!(["not"])), None);
        assert_eq!(tri(json!(["not", ["and", "t", "f"]])), Some(true));
        assert_eq!(tri(json!(["f", "t"])), Some(true), "no operator means OR");
        assert_eq!(tri(json!("t")), Some(true), "a bare id is one leaf");
        assert_eq!(tri(json!(["or", 5])), None, "a non-string leaf is UNKNOWN");
        assert!(parse_ref_tree(&json!([])).is_none());
    }

    #[test]
    fn audience_references_and_reasons() {
        let config = ProjectConfig::parse(
            br#"{"version":"4",
              "audiences":[
                {"id":"1","name":"legacy","conditions":"[\"and\",{\"type\":\"custom_attribute\",\"name\":\"a\",\"value\":\"legacy\"}]"},
                {"id":"2","name":"L2","conditions":"{\"type\":\"custom_attribute\",\"name\":\"a\",\"value\":\"x\"}"}],
              "typedAudiences":[
                {"id":"1","name":"typed","conditions":["and",{"type":"custom_attribute","name":"a","value":"typed"}]}]}"#,
        )
        .unwrap();
        let tree = |v: Value| parse_ref_tree(&v);
        let check = |t: Option<Tree<String>>, attrs: Value| {
            let mut r = Reasons::new(true);
            let ok = user_in_audience(&config, t.as_ref(), &user(attrs), &mut r);
            (ok, r.report())
        };
        // Typed wins on an id clash.
        assert_eq!(
            check(tree(json!(["or", "1"])), json!({"a": "typed"})),
            (true, vec![])
        );
        assert!(!check(tree(json!(["or", "1"])), json!({"a": "legacy"})).0);
        // Legacy string with a bare leaf object.
        assert_eq!(
            check(tree(json!(["or", "2"])), json!({"a": "x"})),
            (true, vec![])
        );
        // UNKNOWN from a nested tree, then an unknown id.
        assert_eq!(
            check(tree(json!(["or", "2", "9"])), json!({"a": 1})),
            (
                false,
                vec![
                    "an error occurred while evaluating nested tree for audience ID \"2\""
                        .to_string(),
                    "unable to evaluate nested tree for audience ID \"9\"".to_string()
                ]
            )
        );
        // No tree: everyone.
        assert_eq!(check(tree(json!([])), json!({})), (true, vec![]));
        // NOT of UNKNOWN stays UNKNOWN, which counts as false.
        assert!(!check(tree(json!(["not", "2"])), json!({})).0);
        assert!(check(tree(json!(["not", "2"])), json!({"a": "y"})).0);
    }

    #[test]
    fn audiences_string() {
        let names = |id: &str| match id {
            "16902921321" => "Audience1".to_string(),
            other => other.to_string(),
        };
        assert_eq!(
            serialize_audiences(&json!(["or", "16902921321"]), &names),
            "\"Audience1\""
        );
        assert_eq!(
            serialize_audiences(&json!(["or", "A", ["and", "B", "C"]]), &names),
            "\"A\" OR (\"B\" AND \"C\")"
        );
        assert_eq!(serialize_audiences(&json!([]), &names), "");
        assert_eq!(
            serialize_audiences(&json!(["A", "B"]), &names),
            "\"A\" OR \"B\""
        );
        assert_eq!(
            serialize_audiences(&json!(["not", "A"]), &names),
            "NOT \"A\""
        );
        assert_eq!(
            serialize_audiences(&json!(["and", ["not", "A"], "B"]), &names),
            "(NOT \"A\") AND \"B\""
        );
    }
}
