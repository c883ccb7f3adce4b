//! Where `OPTIMIZELY_*` values come from: [`Environment`], read by the loader
//! through this trait only, so tests hand in their own variables and the process
//! environment is read in one place ([`ProcessEnv`]).

/// The prefix of every variable that overrides a configuration key.
pub const ENV_PREFIX: &str = "OPTIMIZELY_";

/// A source of environment variables.
pub trait Environment {
    /// The value of variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;

    /// The names of the set variables that start with [`ENV_PREFIX`], so that one
    /// naming no key can be reported. A source that cannot list its names gives
    /// none.
    fn prefixed_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A lookup function is an environment that cannot list its names.
impl<F: Fn(&str) -> Option<String>> Environment for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn prefixed_names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| name.starts_with(ENV_PREFIX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_environments_without_names() {
        let env = |name: &str| (name == "A").then(|| "1".to_owned());
        assert_eq!(Environment::var(&env, "A").as_deref(), Some("1"));
        assert_eq!(Environment::var(&env, "B"), None);
        assert!(env.prefixed_names().is_empty());
        assert!(
            ProcessEnv
                .prefixed_names()
                .iter()
                .all(|n| n.starts_with(ENV_PREFIX))
        );
    }
}
