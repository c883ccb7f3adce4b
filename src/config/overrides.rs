//! The last settings layer: what the command line sets on top of defaults, file
//! and environment ([`Overrides`], applied by [`Settings::apply`]).
//!
//! The overrides are plain data, not clap types: `main` converts the global flags
//! into them, so this module (like all of `config`) imports nothing from `cli`.

use super::{Scope, Settings};

/// Command-line values that override settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrides {
    /// `--redis`: the Redis to use (`synchronization.pubsub.redis.host`). It names
    /// the whole topology, so it clears `cluster` and `sentinel` of the file.
    pub redis: Option<String>,
    /// The command the settings are for: naming a Redis for `serve` also means
    /// syncing notifications through it.
    pub scope: Scope,
}

impl Settings {
    /// These settings with the command-line `overrides` applied. Pure: the caller
    /// resolves defaults, file and environment first (see [`load`](super::load)).
    #[must_use]
    pub fn apply(mut self, overrides: &Overrides) -> Settings {
        if let Some(redis) = &overrides.redis {
            let settings = &mut self.synchronization.pubsub.redis;
            settings.host = redis.clone();
            settings.cluster.clear();
            settings.sentinel = super::RedisSentinelSettings::default();
            if overrides.scope == Scope::Serve {
                self.synchronization.notification.enable = true;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_override_keeps_the_settings() {
        for scope in [Scope::Serve, Scope::Client] {
            let overrides = Overrides { redis: None, scope };
            assert_eq!(Settings::default().apply(&overrides), Settings::default());
        }
    }

    #[test]
    fn redis_sets_the_host_and_for_serve_turns_sync_on() {
        let redis = Some("redis://r:6380/2".to_owned());
        let client = Settings::default().apply(&Overrides {
            redis: redis.clone(),
            scope: Scope::Client,
        });
        assert_eq!(client.synchronization.pubsub.redis.host, "redis://r:6380/2");
        assert!(!client.synchronization.notification.enable);
        let mut expected = Settings::default();
        expected.synchronization.pubsub.redis.host = "redis://r:6380/2".to_owned();
        assert_eq!(client, expected);

        let serve = Settings::default().apply(&Overrides {
            redis,
            scope: Scope::Serve,
        });
        expected.synchronization.notification.enable = true;
        assert_eq!(serve, expected);
    }

    #[test]
    fn redis_replaces_the_whole_topology() {
        let mut file = Settings::default();
        let redis = &mut file.synchronization.pubsub.redis;
        redis.cluster = vec!["a:7000".to_owned()];
        redis.sentinel.master_name = "m".to_owned();
        redis.sentinel.addrs = vec!["s:26379".to_owned()];
        let applied = file.apply(&Overrides {
            redis: Some("redis+cluster://b:7001".to_owned()),
            scope: Scope::Client,
        });
        let redis = &applied.synchronization.pubsub.redis;
        assert_eq!(redis.host, "redis+cluster://b:7001");
        assert!(redis.cluster.is_empty());
        assert!(!redis.sentinel.is_set() && redis.sentinel.addrs.is_empty());
    }
}
