//! Text helpers shared by the engine: Go's `%q` and `%v` renderings (reasons must match
//! upstream byte for byte) and the reasons collector (errors first, then infos).

use serde_json::Value;

/// Go's `strconv.Quote`: double quotes, with `"` and `\` escaped, the usual short
/// escapes for control characters and `\x`/`\u`/`\U` for other non-printable ones.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` that is exact for ASCII and for the
/// common non-printables (controls, separators other than space, BOM).
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{feff}')
}

/// Go's `%v` of a JSON-decoded value (`float64`, `bool`, `string`, `nil`, maps, slices).
pub(crate) fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` of a `float64` (`%g` with the shortest representation): integers print
/// without a fraction, exponents appear below 1e-4 and from 1e21 up.
pub(crate) fn go_float(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_string()
        } else if x > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Rust's `{:e}` gives the shortest digits, e.g. `1e21` or `1.5e-7`; Go writes
        // the exponent with a sign and at least two digits.
        let s = format!("{x:e}");
        if let Some((mantissa, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return s;
    }
    // `{}` on f64 is the shortest round-trip form and never uses an exponent.
    format!("{x}")
}

/// Decision reasons: error reasons are always reported, info reasons only with
/// `INCLUDE_REASONS`; errors come first. Info reasons that will not be reported are
/// not even formatted: most decides do not ask for them, and formatting them cost
/// about 1,500 instructions per decide.
#[derive(Clone, Debug)]
pub(crate) struct Reasons {
    errors: Vec<String>,
    infos: Vec<String>,
    keep_infos: bool,
}

impl Reasons {
    /// No reasons yet; info reasons are kept only when `keep_infos`.
    pub(crate) fn new(keep_infos: bool) -> Self {
        Reasons {
            errors: Vec::new(),
            infos: Vec::new(),
            keep_infos,
        }
    }

    /// Records an info reason (formats it only when info reasons are kept).
    pub(crate) fn info(&mut self, message: std::fmt::Arguments<'_>) {
        if self.keep_infos {
            self.infos.push(message.to_string());
        }
    }

    /// Records an error reason.
    pub(crate) fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// The reported list: errors, then the info reasons kept.
    pub(crate) fn report(self) -> Vec<String> {
        let mut out = self.errors;
        out.extend(self.infos);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quote_matches_go() {
        assert_eq!(go_quote("abc"), "\"abc\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("a\nb\tc\u{1}"), "\"a\\nb\\tc\\x01\"");
        assert_eq!(go_quote("héllo ✓"), "\"héllo ✓\"");
        assert_eq!(go_quote("\u{feff}"), "\"\\ufeff\"");
    }

    #[test]
    fn value_matches_go_percent_v() {
        assert_eq!(go_value(&json!(5)), "5");
        assert_eq!(go_value(&json!(5.5)), "5.5");
        assert_eq!(go_value(&json!(1e21)), "1e+21");
        assert_eq!(go_value(&json!(0.00001)), "1e-05");
        assert_eq!(go_value(&json!(true)), "true");
        assert_eq!(go_value(&json!(null)), "<nil>");
        assert_eq!(go_value(&json!([1, "a"])), "[1 a]");
        assert_eq!(go_value(&json!({"b": 1, "a": 2})), "map[a:2 b:1]");
    }

    #[test]
    fn reasons_put_errors_first() {
        let mut r = Reasons::new(true);
        r.info(format_args!("i{}", 1));
        r.error("e1".into());
        assert_eq!(r.report(), vec!["e1", "i1"]);
        // Without INCLUDE_REASONS the infos are dropped (and never formatted).
        let mut r = Reasons::new(false);
        r.info(format_args!("i{}", 1));
        r.error("e1".into());
        assert_eq!(r.report(), vec!["e1"]);
    }
}
