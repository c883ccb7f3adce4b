//! Go-style durations (`500ms`, `1.5s`, `2h45m`, `0`), as the upstream Agent's
//! configuration writes them.
//!
//! [`parse`] and [`format`](fn@format) convert between text and [`Duration`]; [`serialize`] and
//! [`deserialize`] make the module usable as `#[serde(with = "crate::config::duration")]`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserializer, Serializer};

/// What every duration error message promises, so that users see valid examples.
const EXPECTED: &str = "a duration such as 500ms, 5s or 1m";

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SEC: u128 = 1_000_000_000;
const NANOS_PER_MIN: u128 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MIN;

/// Units in the order they are tried; `ms` must come before `m`, and each name is
/// matched against the whole run of letters after a number.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", NANOS_PER_MICRO),
    ("\u{b5}s", NANOS_PER_MICRO),  // micro sign
    ("\u{3bc}s", NANOS_PER_MICRO), // Greek small letter mu
    ("ms", NANOS_PER_MILLI),
    ("s", NANOS_PER_SEC),
    ("m", NANOS_PER_MIN),
    ("h", NANOS_PER_HOUR),
];

/// Why a text is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// Not of the form `<number><unit>...`, or an unknown unit.
    Malformed,
    /// A number without a unit (other than a lone `0`).
    MissingUnit,
    /// A leading minus sign on a non-zero value.
    Negative,
    /// More than about 584 years.
    TooLarge,
}

impl Problem {
    /// The "what is expected" phrase, without the word "expected".
    fn expected(self) -> String {
        match self {
            Problem::Malformed => EXPECTED.to_owned(),
            Problem::MissingUnit => format!("{EXPECTED}: a number needs a unit"),
            Problem::Negative => format!("{EXPECTED}: it cannot be negative"),
            Problem::TooLarge => format!("{EXPECTED}: the value is too large"),
        }
    }
}

/// Parses a Go `time.ParseDuration` string: one or more `<decimal><unit>` terms with
/// units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. A lone `0` is accepted; other bare
/// numbers and negative durations are rejected. Surrounding whitespace is ignored.
///
/// The error is a complete phrase such as
/// `expected a duration such as 500ms, 5s or 1m: a number needs a unit`.
pub fn parse(s: &str) -> Result<Duration, String> {
    parse_inner(s).map_err(|p| format!("expected {}", p.expected()))
}

fn parse_inner(s: &str) -> Result<Duration, Problem> {
    let s = s.trim();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(Problem::Malformed);
    }
    let mut rest = body;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, tail) = parse_term(rest)?;
        total = total.checked_add(nanos).ok_or(Problem::TooLarge)?;
        rest = tail;
    }
    if negative && total != 0 {
        return Err(Problem::Negative);
    }
    let nanos = u64::try_from(total).map_err(|_| Problem::TooLarge)?;
    Ok(Duration::from_nanos(nanos))
}

/// Parses one `<decimal><unit>` term at the start of `s`; returns its length in
/// nanoseconds and the unparsed rest.
fn parse_term(s: &str) -> Result<(u128, &str), Problem> {
    let number_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(Problem::Malformed);
    }
    let unit_len = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, tail) = rest.split_at(unit_len);
    if unit.is_empty() {
        return Err(Problem::MissingUnit);
    }
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, scale)| *scale)
        .ok_or(Problem::Malformed)?;

    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(digit - b'0')))
            .filter(|n| *n <= u128::from(u64::MAX))
            .ok_or(Problem::TooLarge)?;
    }
    nanos = nanos.checked_mul(scale).ok_or(Problem::TooLarge)?;

    // Digits past the 20th cannot change the result by a whole nanosecond.
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in fraction.bytes().take(20) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    nanos = nanos
        .checked_add(numerator * scale / denominator)
        .ok_or(Problem::TooLarge)?;
    Ok((nanos, tail))
}

/// Formats a duration compactly in the syntax [`parse`] accepts: `0s`, `250ns`,
/// `1.5us`, `100ms`, `1.5s`, `5s`, `1m`, `1m30s`, `1h30m`, `2h0.5s`.
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < NANOS_PER_MICRO {
        return format!("{nanos}ns");
    }
    if nanos < NANOS_PER_MILLI {
        return with_fraction(nanos, NANOS_PER_MICRO, "us");
    }
    if nanos < NANOS_PER_SEC {
        return with_fraction(nanos, NANOS_PER_MILLI, "ms");
    }
    let hours = nanos / NANOS_PER_HOUR;
    let minutes = nanos % NANOS_PER_HOUR / NANOS_PER_MIN;
    let seconds = nanos % NANOS_PER_MIN;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 {
        out.push_str(&with_fraction(seconds, NANOS_PER_SEC, "s"));
    }
    out
}

/// `value / unit` as a decimal without trailing zeros, followed by `suffix`.
fn with_fraction(value: u128, unit: u128, suffix: &str) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return format!("{whole}{suffix}");
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
}

/// Serde helper: writes the duration as the string [`format`](fn@format) produces.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

/// Serde helper: reads a duration string (see [`parse`]) or the integer `0`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

/// Renders a [`Problem`] as the `expected ...` part of a serde error.
struct ExpectedPhrase(Problem);

impl de::Expected for ExpectedPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.expected())
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_inner(v).map_err(|p| E::invalid_value(Unexpected::Str(v), &ExpectedPhrase(p)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        if v == 0 {
            Ok(Duration::ZERO)
        } else {
            Err(E::invalid_value(
                Unexpected::Unsigned(v),
                &ExpectedPhrase(Problem::MissingUnit),
            ))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(
                Unexpected::Signed(v),
                &ExpectedPhrase(Problem::Negative),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_valid_inputs() {
        let table: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("0ms", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("1ns", Duration::from_nanos(1)),
            ("1us", Duration::from_micros(1)),
            ("1\u{b5}s", Duration::from_micros(1)),
            ("1\u{3bc}s", Duration::from_micros(1)),
            ("300ms", ms(300)),
            ("500ms", ms(500)),
            ("5s", Duration::from_secs(5)),
            ("+5s", Duration::from_secs(5)),
            (" 5s ", Duration::from_secs(5)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("5.s", Duration::from_secs(5)),
            ("1m", Duration::from_secs(60)),
            ("30m", Duration::from_secs(1800)),
            ("1h", Duration::from_secs(3600)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("1h30m10s", Duration::from_secs(5410)),
            ("1m0.5s", ms(60_500)),
            ("1.000000001s", Duration::from_nanos(1_000_000_001)),
            ("1.0000000019s", Duration::from_nanos(1_000_000_001)),
            ("0.1us", Duration::from_nanos(100)),
            ("300s", Duration::from_secs(300)),
        ];
        for (input, want) in table {
            assert_eq!(parse(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_invalid_inputs() {
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("   ", ""),
            ("5", ": a number needs a unit"),
            ("1.5", ": a number needs a unit"),
            ("1s5", ": a number needs a unit"),
            ("5x", ""),
            ("5 s", ""),
            ("5S", ""),
            ("5sec", ""),
            ("s", ""),
            ("ms", ""),
            (".", ""),
            (".s", ""),
            ("1..5s", ""),
            ("1.2.3s", ""),
            ("-", ""),
            ("--5s", ""),
            ("-5s", ": it cannot be negative"),
            ("-1ns", ": it cannot be negative"),
            ("abc", ""),
            ("9999999999999999999999h", ": the value is too large"),
            ("18446744073709551616ns", ": the value is too large"),
            ("6000000h", ": the value is too large"),
        ];
        for (input, detail) in table {
            let want = format!("expected a duration such as 500ms, 5s or 1m{detail}");
            assert_eq!(parse(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn formats_compactly() {
        let table: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(250), "250ns"),
            (Duration::from_nanos(1500), "1.5us"),
            (Duration::from_micros(1), "1us"),
            (ms(1), "1ms"),
            (ms(100), "100ms"),
            (Duration::from_micros(100_250), "100.25ms"),
            (ms(1500), "1.5s"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(1800), "30m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(5400), "1h30m"),
            (ms(7_200_500), "2h0.5s"),
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
        ];
        for (d, want) in table {
            assert_eq!(format(*d), *want, "duration {d:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_nanos(1_234_567),
            Duration::from_nanos(987_654_321),
            ms(100),
            ms(61_001),
            Duration::from_secs(86_399),
            Duration::from_secs(86_400 * 400),
            Duration::new(3_723, 45),
            Duration::from_nanos(u64::MAX),
        ];
        for d in samples {
            assert_eq!(parse(&format(d)), Ok(d), "formatted as {}", format(d));
        }
    }

    #[test]
    fn serde_helpers() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Holder {
            #[serde(with = "super")]
            d: Duration,
        }
        let h: Holder = serde_yaml_ng::from_str("d: 1m30s").unwrap();
        assert_eq!(h.d, Duration::from_secs(90));
        let h: Holder = serde_yaml_ng::from_str("d: 0").unwrap();
        assert_eq!(h.d, Duration::ZERO);
        let err = serde_yaml_ng::from_str::<Holder>("d: 5").unwrap_err();
        assert!(err.to_string().contains("a number needs a unit"), "{err}");
        let err = serde_yaml_ng::from_str::<Holder>("d: -3").unwrap_err();
        assert!(err.to_string().contains("cannot be negative"), "{err}");
        let err = serde_yaml_ng::from_str::<Holder>("d: 5x").unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a duration such as 500ms, 5s or 1m"),
            "{err}"
        );
        let err = serde_yaml_ng::from_str::<Holder>("d: [1]").unwrap_err();
        assert!(err.to_string().contains("expected a duration"), "{err}");
        let text = serde_yaml_ng::to_string(&Holder { d: ms(1500) }).unwrap();
        assert_eq!(text.trim(), "d: 1.5s");
    }
}
