//! User profiles shared through Redis (`client.userProfileService` "redis"), in
//! upstream's layout so a fleet mixing upstream Agents and `serve` shares them: the
//! key is the user id itself (no prefix), the value the JSON object
//! `{"<experiment id>":{"variation_id":"<variation id>"}}`, stored without expiry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Connector, Error, Store};
use crate::config::RedisSettings;

/// Experiment id → variation id, as the decision engine keeps a user's profile.
pub type Profile = BTreeMap<String, String>;

/// One entry of upstream's stored bucket map.
#[derive(Serialize, Deserialize)]
struct Bucket {
    variation_id: String,
}

/// `GET <user id>`.
pub fn profile_get_cmd(user_id: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(user_id);
    cmd
}

/// `SET <user id> <json>` (no expiry, as upstream).
pub fn profile_set_cmd(user_id: &str, json: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(user_id).arg(json);
    cmd
}

/// Upstream's JSON value of a profile.
pub fn encode_profile(profile: &Profile) -> String {
    let map: BTreeMap<&str, Bucket> = profile
        .iter()
        .map(|(experiment, variation)| {
            (
                experiment.as_str(),
                Bucket {
                    variation_id: variation.clone(),
                },
            )
        })
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

/// Reads upstream's JSON value; entries that are not `{"variation_id": "…"}`
/// objects are skipped (upstream skips non-objects and would panic on the rest).
///
/// # Errors
///
/// [`Error::Decode`] when the value is not a JSON object.
pub fn decode_profile(json: &str) -> Result<Profile, Error> {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| Error::Decode {
            what: "user profile".to_owned(),
            reason: e.to_string(),
        })?;
    Ok(map
        .into_iter()
        .filter_map(|(experiment, value)| {
            let bucket: Bucket = serde_json::from_value(value).ok()?;
            Some((experiment, bucket.variation_id))
        })
        .collect())
}

/// Typed profile reads and writes on one Redis.
pub struct ProfileStore {
    store: Store,
}

impl ProfileStore {
    /// A store that connects on first use, so `serve` starts while Redis is down.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] or [`Error::Connect`] when the settings name no Redis.
    pub fn from_settings(settings: &RedisSettings) -> Result<Self, Error> {
        Ok(Self {
            store: Connector::from_settings(settings)?.store(),
        })
    }

    /// The address used, safe to print.
    pub fn address(&self) -> &str {
        self.store.address()
    }

    /// The stored profile of `user_id`; `None` when there is none.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`] for a value that is not a profile.
    pub async fn get(&self, user_id: &str) -> Result<Option<Profile>, Error> {
        let value: Option<String> = self.store.query(&profile_get_cmd(user_id)).await?;
        value.as_deref().map(decode_profile).transpose()
    }

    /// Stores (replaces) the profile of `user_id`.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn set(&self, user_id: &str, profile: &Profile) -> Result<(), Error> {
        self.store
            .query::<()>(&profile_set_cmd(user_id, &encode_profile(profile)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::args;
    use super::*;

    #[test]
    fn commands_name_the_user_id_as_key() {
        assert_eq!(args(&profile_get_cmd("matjaz")), ["GET", "matjaz"]);
        assert_eq!(
            args(&profile_set_cmd("matjaz", r#"{"1":{"variation_id":"2"}}"#)),
            ["SET", "matjaz", r#"{"1":{"variation_id":"2"}}"#]
        );
    }

    #[test]
    fn profiles_round_trip_in_upstreams_json() {
        let profile = Profile::from([
            ("16910084756".to_owned(), "16925360560".to_owned()),
            ("1".to_owned(), "2".to_owned()),
        ]);
        let json = encode_profile(&profile);
        assert_eq!(
            json,
            r#"{"1":{"variation_id":"2"},"16910084756":{"variation_id":"16925360560"}}"#
        );
        assert_eq!(decode_profile(&json).ok(), Some(profile));
        assert_eq!(encode_profile(&Profile::new()), "{}");
    }

    #[test]
    fn odd_entries_are_skipped_and_non_objects_refused() {
        let decoded = decode_profile(r#"{"1":{"variation_id":"2"},"3":"x","4":{}}"#).ok();
        assert_eq!(
            decoded,
            Some(Profile::from([("1".to_owned(), "2".to_owned())]))
        );
        assert!(decode_profile("[1]").is_err());
        assert!(decode_profile("not json").is_err());
    }
}
