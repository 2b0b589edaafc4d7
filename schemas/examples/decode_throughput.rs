//! Decoder throughput on a file of access-log lines, one message per line:
//! `cargo run --release -p tollgate-schemas --example decode_throughput -- FILE [ROUNDS]`.
//!
//! Prints lines, events and rejects per round and the best round's rate, so
//! a change to the decoders can be measured on its own, without Parquet or
//! Kafka (bench/ingest.sh measures the whole import against DuckDB).

use std::time::Instant;

use tollgate_schemas::{DecodeOptions, Decoded, Format, Position, decode_into};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: decode_throughput FILE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = std::fs::read(&path)?;
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let opts = DecodeOptions::default();
    let mut best = f64::INFINITY;
    for round in 0..rounds {
        let mut out = Decoded::default();
        let (mut events, mut rejects) = (0usize, 0usize);
        let start = Instant::now();
        for line in &lines {
            out.events.clear();
            out.event_index.clear();
            out.rejects.clear();
            decode_into(line, Format::Auto, &opts, Position(None), &mut out);
            events += out.events.len();
            rejects += out.rejects.len();
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "round {round}: {} lines, {events} events, {rejects} rejects, {secs:.3} s",
            lines.len()
        );
    }
    println!(
        "best: {:.0} lines/s ({:.1} MB/s)",
        lines.len() as f64 / best,
        text.len() as f64 / best / 1e6
    );
    Ok(())
}
