//! Bucketing: MurmurHash3 x86_32 (seed 1) of `bucketingId + parentId`, scaled to
//! `[0, 9999]` in f64, then a walk over the traffic-allocation ranges.

use super::datafile::Range;

/// The seed every bucketing hash uses.
const HASH_SEED: u32 = 1;

/// The number of buckets; ranges end at most here.
const MAX_TRAFFIC: f64 = 10_000.0;

/// MurmurHash3 x86 32-bit of `bytes` with `seed`.
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    mur3::murmurhash3_x86_32(bytes, seed)
}

/// The bucket (`0..=9999`) of a bucketing key. Computed in f64: f32 rounds hashes
/// near 2^32 up to 10000 (go-sdk FSSDK-11917).
pub fn bucket_value(bucketing_key: &str) -> i64 {
    bucket_of_bytes(bucketing_key.as_bytes())
}

/// Keys up to this length are put together on the stack by [`bucket_of`].
const STACK_KEY: usize = 128;

/// The bucket of `bucketing_id` in the entity `parent_id` (a rule or a group): the
/// bucket of the two concatenated, without allocating for the usual short ids.
pub(crate) fn bucket_of(bucketing_id: &str, parent_id: &str) -> i64 {
    let (id, parent) = (bucketing_id.as_bytes(), parent_id.as_bytes());
    let len = id.len() + parent.len();
    if len <= STACK_KEY {
        let mut key = [0u8; STACK_KEY];
        key[..id.len()].copy_from_slice(id);
        key[id.len()..len].copy_from_slice(parent);
        bucket_of_bytes(&key[..len])
    } else {
        bucket_of_bytes(&[id, parent].concat())
    }
}

fn bucket_of_bytes(key: &[u8]) -> i64 {
    let hash = murmur3_32(key, HASH_SEED);
    let ratio = f64::from(hash) / 4_294_967_296.0;
    // Truncation is the floor here: the value is non-negative and below 10000.
    (ratio * MAX_TRAFFIC).floor() as i64
}

/// The entity id of the first range whose end is above `bucket`; `None` past the
/// last range. An empty id (a hole) is returned as such for the caller to treat as
/// "not bucketed".
pub(crate) fn find_entity(ranges: &[Range], bucket: i64) -> Option<&str> {
    ranges
        .iter()
        .find(|r| bucket < r.end_of_range)
        .map(|r| r.entity_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_vectors() {
        assert_eq!(murmur3_32(b"", 1), 0x514E_28B7);
        assert_eq!(murmur3_32(b"hello", 0), 613_153_351);
        assert_eq!(murmur3_32(b"ppid11886780721", 1), 2_256_854_705);
        assert_eq!(murmur3_32(b"ppid21886780721", 1), 1_846_603_100);
        assert_eq!(murmur3_32(b"ppid21886780722", 1), 1_045_634_806);
        assert_eq!(murmur3_32(b"ppid31886780721", 1), 2_336_050_061);
        assert_eq!(
            murmur3_32(b"15580846default-rollout-386456-20914452332", 1),
            4_294_967_228
        );
    }

    #[test]
    fn bucket_vectors() {
        assert_eq!(bucket_value("ppid11886780721"), 5254);
        assert_eq!(bucket_value("ppid21886780721"), 4299);
        assert_eq!(bucket_value("ppid21886780722"), 2434);
        assert_eq!(bucket_value("ppid31886780721"), 5439);
        let long = "a very very very very very very very very very very very very very very \
                    very long ppd string1886780721";
        assert_eq!(murmur3_32(long.as_bytes(), 1), 2_632_290_317);
        assert_eq!(bucket_value(long), 6128);
        // The high-hash case that f32 math turns into 10000.
        assert_eq!(
            bucket_value("15580846default-rollout-386456-20914452332"),
            9999
        );
        // Values for the reference datafile.
        assert_eq!(bucket_value("matjaz16911963060"), 3431);
        assert_eq!(bucket_value("matjaz16910084756"), 2477);
        assert_eq!(bucket_value("matjaz16941022436"), 7848);
        assert_eq!(bucket_value("matjazdefault-16943340293"), 2305);
        // Put together from its two parts, short (on the stack) or long.
        assert_eq!(bucket_of("matjaz", "16911963060"), 3431);
        assert_eq!(bucket_of("ppid3", "1886780721"), 5439);
        let (id, parent) = long.split_at(long.len() - 10);
        assert_eq!(bucket_of(id, parent), 6128);
        let longer = format!("{}{id}", "x".repeat(STACK_KEY));
        assert_eq!(
            bucket_of(&longer, parent),
            bucket_value(&format!("{longer}{parent}"))
        );
    }

    #[test]
    fn range_walk() {
        let ranges = vec![
            Range {
                entity_id: String::new(),
                end_of_range: 2500,
            },
            Range {
                entity_id: "v1".into(),
                end_of_range: 4999,
            },
            Range {
                entity_id: "v2".into(),
                end_of_range: 5399,
            },
        ];
        let at = |key: &str| find_entity(&ranges, bucket_value(key)).map(str::to_string);
        assert_eq!(at("ppid11886780721").as_deref(), Some("v2"));
        assert_eq!(at("ppid21886780721").as_deref(), Some("v1"));
        assert_eq!(at("ppid21886780722").as_deref(), Some(""));
        assert_eq!(at("ppid31886780721"), None);
    }
}
