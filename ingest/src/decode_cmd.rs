//! `tollgate decode`: newline-delimited gateway messages in, canonical
//! JSON events out, one JSON reject per bad message on stderr.
//!
//! This is how a platform engineer checks that their gateway's logs are
//! understood before pointing Tollgate at Kafka. Blank lines are skipped
//! (they are not messages); every other line is one message, which may
//! decode to several events (a batch) or rejects.
//!
//! Event ids for formats without a request id are derived from the line's
//! bytes alone, so the same line always prints the same id wherever it sits
//! in the file.

use std::io::{self, BufRead, Write};

use serde::Serialize;
use tollgate_schemas::decode::oversized_reject;
use tollgate_schemas::{DecodeOptions, Decoded, Format, Position, RejectReason, decode_into};

use crate::lines::LineReader;

/// How many bytes of a rejected message are echoed on stderr.
const RAW_ECHO_BYTES: usize = 2048;

/// What one run of `decode` saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    /// Non-blank lines read.
    pub messages: u64,
    /// Events printed.
    pub events: u64,
    /// Rejects printed.
    pub rejects: u64,
}

/// The JSON printed on stderr for one reject.
#[derive(Serialize)]
struct RejectLine<'a> {
    line: u64,
    /// Position inside a batch message, if the reject is one element.
    index: Option<usize>,
    reason: RejectReason,
    message: &'a str,
    /// The rejected bytes, lossily as UTF-8, cut to a few KiB.
    raw: String,
    raw_truncated: bool,
}

/// Decodes every line of `input`, writing events to `out` and rejects to `err`.
/// Only I/O errors on the streams themselves are errors.
pub fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    format: Format,
    opts: &DecodeOptions,
    out: W,
    err: E,
) -> io::Result<DecodeSummary> {
    let mut out = io::BufWriter::new(out);
    let mut err = io::BufWriter::new(err);
    let mut reader = LineReader::new(input, opts.max_message_bytes);
    let mut summary = DecodeSummary::default();
    let mut decoded = Decoded::default();
    while let Some(line) = reader.next_line()? {
        if line.bytes.iter().all(u8::is_ascii_whitespace) && line.full_len == line.bytes.len() {
            continue;
        }
        summary.messages += 1;
        decoded.events.clear();
        decoded.rejects.clear();
        decoded.event_index.clear();
        if line.full_len > opts.max_message_bytes {
            decoded
                .rejects
                .push(oversized_reject(&line.bytes, line.full_len, opts));
        } else {
            decode_into(&line.bytes, format, opts, Position(None), &mut decoded);
        }
        for e in &decoded.events {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
            summary.events += 1;
        }
        for r in &decoded.rejects {
            let keep = r.raw.len().min(RAW_ECHO_BYTES);
            let rl = RejectLine {
                line: line.number,
                index: r.index,
                reason: r.reason,
                message: &r.message,
                raw: String::from_utf8_lossy(&r.raw[..keep]).into_owned(),
                raw_truncated: r.raw_truncated || keep < r.raw.len(),
            };
            serde_json::to_writer(&mut err, &rl)?;
            err.write_all(b"\n")?;
            summary.rejects += 1;
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(input: &[u8]) -> (String, String, DecodeSummary) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let s = run(
            input,
            Format::Auto,
            &DecodeOptions::default(),
            &mut out,
            &mut err,
        )
        .unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            s,
        )
    }

    #[test]
    fn events_to_stdout_rejects_with_line_numbers_to_stderr() {
        let input = b"{\"started_at\":1718111045123,\"request\":{\"method\":\"GET\"}}\n\nnot a log line\n\xff\xfe\n";
        let (out, err, s) = run_str(input);
        assert_eq!(out.lines().count(), 1);
        assert!(out.contains("\"gateway\":\"kong\""));
        let rejects: Vec<serde_json::Value> = err
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rejects.len(), 2);
        assert_eq!(rejects[0]["line"], 3);
        assert_eq!(rejects[0]["reason"], "not_json");
        assert_eq!(rejects[1]["line"], 4);
        assert_eq!(rejects[1]["reason"], "invalid_utf8");
        assert_eq!(
            s,
            DecodeSummary {
                messages: 3,
                events: 1,
                rejects: 2
            }
        );
    }

    #[test]
    fn canonical_output_round_trips_byte_for_byte() {
        let input = concat!(
            r#"{"requestId":"r-1","requestTimeEpoch":"1718111045123","httpMethod":"GET","path":"/p/%C3%A9?x=1","status":"200","responseLatency":"17","integrationLatency":"-","ip":"2001:db8::7","responseLength":"-"}"#,
            "\n"
        );
        let (first, _, _) = run_str(input.as_bytes());
        let (second, err, _) = run_str(first.as_bytes());
        assert_eq!(err, "");
        assert_eq!(first, second);
    }

    #[test]
    fn oversized_lines_are_rejected_not_buffered() {
        let mut input = vec![b'x'; 3000];
        input.push(b'\n');
        let mut out = Vec::new();
        let mut err = Vec::new();
        let opts = DecodeOptions {
            max_message_bytes: 1000,
            ..DecodeOptions::default()
        };
        run(&input[..], Format::Auto, &opts, &mut out, &mut err).unwrap();
        let r: serde_json::Value =
            serde_json::from_str(String::from_utf8(err).unwrap().trim()).unwrap();
        assert_eq!(r["reason"], "oversized");
        assert!(r["message"].as_str().unwrap().contains("3000 bytes"));
    }
}
