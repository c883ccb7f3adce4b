//! Decoding of raw RESP replies (RESP2 arrays of alternating names and values, or
//! RESP3 maps) into named fields, so that fields newer Redis versions add (entries-read,
//! lag, inactive, …) are read when present and absent ones are `None`.

use redis::Value;

use super::{Error, StreamId};

/// A reply's fields by name, in reply order.
pub(crate) struct Fields {
    what: &'static str,
    pairs: Vec<(String, Value)>,
}

impl Fields {
    /// Decodes a RESP2 flat name/value array or a RESP3 map.
    pub(crate) fn decode(what: &'static str, value: Value) -> Result<Self, Error> {
        let raw = match value {
            Value::Map(pairs) => pairs,
            Value::Array(items) if items.len() % 2 == 0 => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut iter = items.into_iter();
                while let (Some(name), Some(value)) = (iter.next(), iter.next()) {
                    pairs.push((name, value));
                }
                pairs
            }
            other => {
                return Err(decode_error(
                    what,
                    format!("expected a field list, got {other:?}"),
                ));
            }
        };
        let pairs = raw
            .into_iter()
            .map(|(name, value)| {
                text(&name)
                    .map(|name| (name, value))
                    .ok_or_else(|| decode_error(what, "a field name is not text".to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { what, pairs })
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Removes and returns a field's raw value (for nested replies).
    pub(crate) fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.swap_remove(at).1)
    }

    /// An integer field; `None` when absent or nil (older Redis, or not computable).
    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>, Error> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(None),
            Some(value) => int(value).map(Some).ok_or_else(|| {
                decode_error(
                    self.what,
                    format!("field {name} is not an integer: {value:?}"),
                )
            }),
        }
    }

    /// A non-negative integer field that must be present.
    pub(crate) fn count(&self, name: &str) -> Result<u64, Error> {
        self.opt_count(name)?
            .ok_or_else(|| decode_error(self.what, format!("missing field {name}")))
    }

    /// A non-negative integer field that may be absent.
    pub(crate) fn opt_count(&self, name: &str) -> Result<Option<u64>, Error> {
        self.opt_int(name)?
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| decode_error(self.what, format!("field {name} is negative: {v}")))
            })
            .transpose()
    }

    /// A text field that must be present.
    pub(crate) fn string(&self, name: &str) -> Result<String, Error> {
        self.get(name)
            .and_then(text)
            .ok_or_else(|| decode_error(self.what, format!("missing text field {name}")))
    }

    /// A stream id field that may be absent.
    pub(crate) fn opt_id(&self, name: &str) -> Result<Option<StreamId>, Error> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(None),
            Some(value) => id(self.what, value).map(Some),
        }
    }
}

pub(crate) fn decode_error(what: &str, reason: String) -> Error {
    Error::Decode {
        what: what.to_owned(),
        reason,
    }
}

/// Text from a bulk/simple/verbatim string.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// An integer, also from its text form (RESP2 sometimes sends numbers as strings).
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(v) => Some(*v),
        other => text(other)?.parse().ok(),
    }
}

/// A stream id from its text form.
pub(crate) fn id(what: &str, value: &Value) -> Result<StreamId, Error> {
    text(value)
        .ok_or_else(|| decode_error(what, format!("expected an entry id, got {value:?}")))?
        .parse()
        .map_err(|reason| decode_error(what, reason))
}

/// The elements of an array reply (nil counts as empty).
pub(crate) fn array(what: &str, value: Value) -> Result<Vec<Value>, Error> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(decode_error(
            what,
            format!("expected an array, got {other:?}"),
        )),
    }
}
