//! Semantic-version comparison for the `semver_*` audience matchers, with go-sdk's
//! quirks (the walk follows the target's parts; a user pre-release with a missing
//! part compares greater).

use std::cmp::Ordering;

/// A parsed version: up to three numeric core parts plus an optional suffix part
/// (the text after the first pre-release `-` or build `+` separator).
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    parts: Vec<&'a str>,
    pre_release: bool,
}

/// Why a version string was rejected; the matcher turns it into UNKNOWN.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidVersion;

fn parse(text: &str) -> Result<Version<'_>, InvalidVersion> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(InvalidVersion);
    }
    let dash = text.find('-');
    let plus = text.find('+');
    // Whichever separator comes first decides whether this is a pre-release or a build.
    let (split_at, pre_release) = match (dash, plus) {
        (Some(d), Some(p)) => (Some(d.min(p)), d < p),
        (Some(d), None) => (Some(d), true),
        (None, Some(p)) => (Some(p), false),
        (None, None) => (None, false),
    };
    let (core, suffix) = match split_at {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || !parts.iter().all(|p| is_number(p)) {
        return Err(InvalidVersion);
    }
    if let Some(suffix) = suffix {
        parts.push(suffix);
    }
    Ok(Version { parts, pre_release })
}

fn is_number(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two digit strings as integers of any length.
fn compare_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares the user's version with the condition's target: -1, 0 or 1.
///
/// # Errors
///
/// Either string is not a version go-sdk accepts.
pub(crate) fn compare(user: &str, target: &str) -> Result<i32, InvalidVersion> {
    let user = parse(user)?;
    let target = parse(target)?;
    for (idx, target_part) in target.parts.iter().enumerate() {
        let Some(user_part) = user.parts.get(idx) else {
            return Ok(if user.pre_release { 1 } else { -1 });
        };
        if !is_number(user_part) {
            match user_part.cmp(target_part) {
                Ordering::Less => {
                    return Ok(if target.pre_release && !user.pre_release {
                        1
                    } else {
                        -1
                    });
                }
                Ordering::Greater => {
                    return Ok(if !target.pre_release && user.pre_release {
                        -1
                    } else {
                        1
                    });
                }
                Ordering::Equal => {}
            }
        } else if is_number(target_part) {
            match compare_numeric(user_part, target_part) {
                Ordering::Less => return Ok(-1),
                Ordering::Greater => return Ok(1),
                Ordering::Equal => {}
            }
        } else {
            return Ok(-1);
        }
    }
    if user.pre_release && !target.pre_release {
        return Ok(-1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(t: &str, u: &str) -> bool {
        compare(u, t).unwrap() == 0
    }
    fn gt(t: &str, u: &str) -> bool {
        compare(u, t).unwrap() > 0
    }
    fn lt(t: &str, u: &str) -> bool {
        compare(u, t).unwrap() < 0
    }

    #[test]
    fn go_sdk_vectors() {
        assert!(!eq("2.0", "2"));
        assert!(eq("2.0", "2.0.0"));
        assert!(!lt("2.0", "2.0.0") && !gt("2.0", "2.0.0")); // ge and le
        assert!(gt("2.0", "2.9"));
        assert!(!lt("2.0", "2.9"));
        assert!(lt("2.0", "1.9"));
        assert!(!gt("2.0", "1.9") && !eq("2.0", "1.9")); // ge false
        assert!(gt("2.1.2-beta", "2.1.2-release"));
        assert!(!eq("2.1.2-beta", "2.1.2-release"));
        assert!(lt("2.1.2-beta", "2.1.2"));
        assert!(!gt("2.1.2-beta", "2.1.2"));
        assert!(eq("2.1.2-beta", "2.1.2-beta"));
        assert!(lt("2.1.2-release", "2.1.2-beta"));
        assert!(lt("2.1.2-release", "2.1.2"));
        assert!(eq("2.1.2-release", "2.1.2-release"));
    }

    #[test]
    fn rejects_invalid_versions() {
        for bad in ["", "3.x", "2.", ".2.2", "3.7.2.2", "-", "+test", "2 .3. 0"] {
            assert_eq!(compare(bad, "1.0"), Err(InvalidVersion), "user {bad:?}");
            assert_eq!(compare("1.0", bad), Err(InvalidVersion), "target {bad:?}");
        }
    }

    #[test]
    fn build_and_large_numbers() {
        assert_eq!(compare("1.2.3+build", "1.2.3+build").unwrap(), 0);
        assert_eq!(compare("99999999999999999999999.0", "2.0").unwrap(), 1);
        assert_eq!(compare("1.10", "1.9").unwrap(), 1);
    }
}
