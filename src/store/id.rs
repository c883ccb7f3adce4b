//! Stream entry ids (`<ms>-<seq>`), parsed once and compared numerically.

use std::fmt;
use std::str::FromStr;

/// A Redis stream entry id: milliseconds since the epoch and a sequence number.
///
/// Ordering is Redis's ordering (by `ms`, then `seq`), which string comparison of
/// ids does not give (`"10-0" < "9-0"` as strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part: the Redis server time the entry was added at.
    pub ms: u64,
    /// Sequence number within that millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The smallest possible id, `0-0` (also Redis's "nothing delivered yet").
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Creates an id from its two parts.
    pub const fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }

    /// The smallest id strictly greater than this one, or `None` at the very top.
    pub fn successor(self) -> Option<Self> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(Self { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| Self { ms, seq: 0 }),
        }
    }

    /// `<ms>-<seq>`, allocated once at its final size. Every notification's SSE id
    /// and every XREAD's start id is made with it, so the numbers are written with
    /// `itoa` rather than through `write!` (about a sixth of the instructions).
    pub fn to_text(self) -> String {
        let (mut ms, mut seq) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (ms, seq) = (ms.format(self.ms), seq.format(self.seq));
        let mut text = String::with_capacity(ms.len() + 1 + seq.len());
        text.push_str(ms);
        text.push('-');
        text.push_str(seq);
        text
    }

    /// The greatest id strictly smaller than this one, or `None` for `0-0`.
    pub fn predecessor(self) -> Option<Self> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(Self { ms: self.ms, seq }),
            None => self.ms.checked_sub(1).map(|ms| Self { ms, seq: u64::MAX }),
        }
    }
}

impl fmt::Display for StreamId {
    /// The same text as [`StreamId::to_text`], written in pieces (no allocation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(itoa::Buffer::new().format(self.ms))?;
        f.write_str("-")?;
        f.write_str(itoa::Buffer::new().format(self.seq))
    }
}

impl FromStr for StreamId {
    type Err = String;

    /// Accepts `<ms>-<seq>` or a bare `<ms>` (meaning `<ms>-0`), as XTRIM MINID does.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("invalid stream id {text:?}: expected <ms>-<seq> or <ms>, e.g. 1700000000000-0")
        };
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (text, "0"),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(bad());
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        let a: StreamId = "9-0".parse().unwrap();
        let b: StreamId = "10-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(
            "1700000000000".parse::<StreamId>().unwrap(),
            StreamId::new(1_700_000_000_000, 0)
        );
        assert_eq!(StreamId::new(5, 7).to_string(), "5-7");
        assert_eq!(
            StreamId::new(u64::MAX, 0).to_text(),
            "18446744073709551615-0"
        );
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "1.5-0",
            " 1-0",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn successor_carries_into_ms() {
        assert_eq!(StreamId::new(1, 1).successor(), Some(StreamId::new(1, 2)));
        assert_eq!(
            StreamId::new(1, u64::MAX).successor(),
            Some(StreamId::new(2, 0))
        );
        assert_eq!(StreamId::new(u64::MAX, u64::MAX).successor(), None);
    }

    #[test]
    fn predecessor_borrows_from_ms() {
        assert_eq!(StreamId::new(1, 2).predecessor(), Some(StreamId::new(1, 1)));
        assert_eq!(
            StreamId::new(2, 0).predecessor(),
            Some(StreamId::new(1, u64::MAX))
        );
        assert_eq!(StreamId::ZERO.predecessor(), None);
    }
}
