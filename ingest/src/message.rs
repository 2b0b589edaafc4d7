//! From one raw message to rows in a [`RowBatch`]: decode with the
//! configured format, apply the ingest-time checks the decoders cannot know
//! about (clock skew, horizon), and account for every message.

use std::collections::BTreeMap;

use tollgate_schemas::{
    DecodeOptions, Decoded, Format, Position, Reject, RejectReason, decode_into,
};

use crate::batch::{RowBatch, Source};

/// A message as it came off Kafka or out of a file.
#[derive(Debug, Clone)]
pub struct RawMessage<'a> {
    /// Where it came from.
    pub source: Source,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// Decodes messages into a batch. Cheap to clone; one per worker thread.
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    opts: DecodeOptions,
    default_format: Format,
    topic_formats: BTreeMap<String, Format>,
    max_future_skew_ms: i64,
    horizon_ms: Option<i64>,
    raw_cap: usize,
}

/// What [`MessageDecoder::decode`] added to the batch for one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageOutcome {
    /// Events added.
    pub events: u32,
    /// Rejects added.
    pub rejects: u32,
}

impl MessageDecoder {
    /// A decoder. `max_future_skew_secs` and `horizon_days` bound event
    /// timestamps relative to the ingest clock.
    pub fn new(
        opts: DecodeOptions,
        default_format: Format,
        topic_formats: BTreeMap<String, Format>,
        max_future_skew_secs: u64,
        horizon_days: Option<u64>,
        raw_cap: usize,
    ) -> Self {
        MessageDecoder {
            opts,
            default_format,
            topic_formats,
            max_future_skew_ms: i64::try_from(max_future_skew_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            horizon_ms: horizon_days
                .map(|d| i64::try_from(d.saturating_mul(86_400_000)).unwrap_or(i64::MAX)),
            raw_cap,
        }
    }

    /// The reject for a message of `full_len` bytes over the limit, of which
    /// `kept` is the prefix a bounded reader held.
    pub fn oversized(&self, kept: &[u8], full_len: usize) -> Reject {
        tollgate_schemas::decode::oversized_reject(kept, full_len, &self.opts)
    }

    /// The quarantine's raw-bytes cap.
    pub fn raw_cap(&self) -> usize {
        self.raw_cap
    }

    /// Decodes one message into `batch`, using `scratch` as a reusable
    /// buffer. `now_ms` is the ingest clock (injected so tests control it).
    pub fn decode(
        &self,
        msg: &RawMessage<'_>,
        now_ms: i64,
        batch: &mut RowBatch,
        scratch: &mut Decoded,
    ) -> MessageOutcome {
        scratch.events.clear();
        scratch.event_index.clear();
        scratch.rejects.clear();
        let (format, position) = match &msg.source {
            Source::Kafka {
                topic,
                partition,
                offset,
                ..
            } => (
                self.topic_formats
                    .get(topic.as_ref())
                    .copied()
                    .unwrap_or(self.default_format),
                format!("kafka:{topic}/{partition}/{offset}"),
            ),
            Source::File { file, line } => (self.default_format, format!("file:{file}:{line}")),
        };
        decode_into(
            msg.payload,
            format,
            &self.opts,
            Position(Some(&position)),
            scratch,
        );
        let mut outcome = MessageOutcome::default();
        let single = scratch.events.len() + scratch.rejects.len() == 1;
        for (i, e) in scratch.events.iter().enumerate() {
            let ts = e.ts.0;
            let bad = if ts > now_ms.saturating_add(self.max_future_skew_ms) {
                Some((
                    RejectReason::FutureTimestamp,
                    format!(
                        "event time {} is more than {} s ahead of the ingest clock; check the gateway's clock or raise ingest.max_future_skew_secs",
                        e.ts,
                        self.max_future_skew_ms / 1000
                    ),
                ))
            } else if self
                .horizon_ms
                .is_some_and(|h| ts < now_ms.saturating_sub(h))
            {
                Some((
                    RejectReason::TooOld,
                    format!(
                        "event time {} is older than the {}-day horizon; raise ingest.horizon_days to accept it",
                        e.ts,
                        self.horizon_ms.unwrap_or_default() / 86_400_000
                    ),
                ))
            } else {
                None
            };
            let index = scratch.event_index.get(i).copied().unwrap_or(i);
            match bad {
                None => {
                    batch.add_event(e, &msg.source, index, now_ms);
                    outcome.events += 1;
                }
                Some((reason, message)) => {
                    let r = Reject {
                        reason,
                        message,
                        index: if single { None } else { Some(index) },
                        raw: e.to_json().into_bytes(),
                        raw_truncated: false,
                    };
                    batch.add_reject(&r, &msg.source, msg.payload.len(), now_ms);
                    outcome.rejects += 1;
                }
            }
        }
        for r in &scratch.rejects {
            batch.add_reject(r, &msg.source, msg.payload.len(), now_ms);
            outcome.rejects += 1;
        }
        outcome
    }
}
