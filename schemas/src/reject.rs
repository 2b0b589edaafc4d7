//! Rejects: input that could not become an [`AccessEvent`](crate::AccessEvent).
//!
//! A reject is data, not a crash: it carries a machine-readable reason, a
//! sentence a person can act on, and the raw bytes, so the ingestor can
//! quarantine it and an operator can replay it after fixing a mapping.

use std::fmt;

use serde::Serialize;

/// Why a message (or one element of a batch) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The bytes are not valid UTF-8.
    InvalidUtf8,
    /// The message is empty or whitespace only.
    Empty,
    /// Not parseable as JSON (and not a combined-log-format line).
    NotJson,
    /// Valid JSON, but no supported gateway format matches its shape.
    UnknownFormat,
    /// A recognised format the decoders deliberately do not accept
    /// (APISIX `meta_format=origin`).
    UnsupportedFormat,
    /// A required field (the timestamp) is missing.
    MissingField,
    /// A field has a type the format does not allow.
    WrongType,
    /// A field is well-typed but its value is impossible (negative latency,
    /// status above 999, a timestamp before 1970).
    InvalidValue,
    /// The message is larger than the configured maximum.
    Oversized,
    /// The timestamp is further in the future than the configured skew
    /// allows (set by the ingestor, not the decoders).
    FutureTimestamp,
    /// The timestamp is older than the configured horizon (set by the
    /// ingestor, not the decoders).
    TooOld,
}

impl RejectReason {
    /// The stable reason code stored in the quarantine table.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::Empty => "empty",
            RejectReason::NotJson => "not_json",
            RejectReason::UnknownFormat => "unknown_format",
            RejectReason::UnsupportedFormat => "unsupported_format",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::Oversized => "oversized",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::TooOld => "too_old",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One rejected message, or one rejected element of a batch message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// Machine-readable cause.
    pub reason: RejectReason,
    /// One sentence for a person: what was wrong and, where possible, what to do.
    pub message: String,
    /// Position of the element inside a batch message (0-based), `None` when
    /// the whole message was rejected.
    pub index: Option<usize>,
    /// The raw bytes of the rejected element (the whole message when
    /// `index` is `None`). For [`RejectReason::Oversized`] only the first
    /// bytes are kept; see `raw_truncated`.
    pub raw: Vec<u8>,
    /// True when `raw` holds only a prefix of the original bytes.
    pub raw_truncated: bool,
}

impl Reject {
    /// A reject of a whole message.
    pub fn new(reason: RejectReason, message: impl Into<String>, raw: &[u8]) -> Self {
        Reject {
            reason,
            message: message.into(),
            index: None,
            raw: raw.to_vec(),
            raw_truncated: false,
        }
    }

    /// The same reject, located at `index` inside a batch.
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    /// [`Reject::at`] when there is an index (a batch element), else as is.
    pub(crate) fn at_opt(self, index: Option<usize>) -> Self {
        match index {
            Some(i) => self.at(i),
            None => self,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{} (batch element {i}): {}", self.reason, self.message),
            None => write!(f, "{}: {}", self.reason, self.message),
        }
    }
}
