//! The audience condition model both the datafile parser and audience evaluation
//! need: `and`/`or`/`not` [`Tree`]s whose leaves are audience ids or attribute
//! [`Condition`]s, and their parsers from datafile JSON. It imports nothing else
//! from `decide`, so `datafile` and `audience` both depend on it and not on each
//! other.

use serde_json::Value;

/// A parsed `and`/`or`/`not` tree. Arrays without a leading operator are OR.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tree<L> {
    And(Vec<Tree<L>>),
    Or(Vec<Tree<L>>),
    /// Only the first operand counts; none evaluates to UNKNOWN.
    Not(Vec<Tree<L>>),
    Leaf(L),
    /// A node of the wrong JSON type: UNKNOWN.
    Invalid,
}

impl<L> Tree<L> {
    /// Calls `f` on every leaf, depth first.
    pub(crate) fn for_each_leaf(&self, f: &mut dyn FnMut(&L)) {
        match self {
            Tree::And(children) | Tree::Or(children) | Tree::Not(children) => {
                for child in children {
                    child.for_each_leaf(f);
                }
            }
            Tree::Leaf(leaf) => f(leaf),
            Tree::Invalid => {}
        }
    }
}

/// One leaf condition `{type, name, match, value}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) matcher: String,
    pub(crate) value: Value,
}

fn parse_node<L>(v: &Value, leaf: &dyn Fn(&Value) -> Option<L>) -> Tree<L> {
    match v {
        Value::Array(items) => {
            let (op, rest) = match items.first().and_then(Value::as_str) {
                Some(op @ ("and" | "or" | "not")) => (op, &items[1..]),
                _ => ("or", &items[..]),
            };
            let children = rest.iter().map(|c| parse_node(c, leaf)).collect();
            match op {
                "and" => Tree::And(children),
                "not" => Tree::Not(children),
                _ => Tree::Or(children),
            }
        }
        other => leaf(other).map_or(Tree::Invalid, Tree::Leaf),
    }
}

/// Parses an experiment's `audienceConditions`. `None` means "everyone" (`[]`).
pub(crate) fn parse_ref_tree(v: &Value) -> Option<Tree<String>> {
    if v.as_array().is_some_and(Vec::is_empty) {
        return None;
    }
    Some(parse_node(v, &|leaf| leaf.as_str().map(str::to_string)))
}

/// Parses an audience's condition tree; a bare leaf object is an OR of one.
pub(crate) fn parse_condition_tree(v: &Value) -> Tree<Condition> {
    parse_node(v, &|leaf| {
        let obj = leaf.as_object()?;
        let text = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Condition {
            kind: text("type"),
            name: text("name"),
            matcher: text("match"),
            value: obj.get("value").cloned().unwrap_or(Value::Null),
        })
    })
}
