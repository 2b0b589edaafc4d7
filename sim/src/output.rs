//! Lines to a writer (a file, standard output), paced to a rate if asked.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::config::SimulateError;
use crate::simulator::Simulator;
/// Writes every remaining line of `sim` to `out`, one per line, at most
/// `rate` lines per second of wall-clock time. Returns the lines written.
pub fn write_lines(
    sim: &mut Simulator,
    mut out: impl Write,
    rate: Option<f64>,
) -> Result<u64, SimulateError> {
    let mut buf = Vec::with_capacity(1024);
    let mut pacer = Pacer::new(rate);
    let mut n = 0u64;
    while sim.next_into(&mut buf).is_some() {
        buf.push(b'\n');
        out.write_all(&buf)?;
        n += 1;
        pacer.wait(n, || out.flush())?;
    }
    out.flush()?;
    Ok(n)
}

/// Holds a loop to a rate: `wait(n)` sleeps until `n` lines are due.
pub(crate) struct Pacer {
    rate: Option<f64>,
    start: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: Option<f64>) -> Self {
        Pacer {
            rate,
            start: Instant::now(),
        }
    }

    /// Sleeps until line `n` is due, calling `before_sleep` first (to flush
    /// what is buffered, so a reader sees lines as they are paced). Returns
    /// whether it slept.
    pub(crate) fn wait(
        &mut self,
        n: u64,
        before_sleep: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<bool> {
        let Some(rate) = self.rate else {
            return Ok(false);
        };
        let due = self.start + Duration::from_secs_f64(n as f64 / rate);
        let now = Instant::now();
        // Sleeping for less than a couple of milliseconds costs more than
        // it evens out; the next line catches up.
        if due <= now + Duration::from_millis(2) {
            return Ok(false);
        }
        before_sleep()?;
        std::thread::sleep(due - now);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GatewayMix, SimulatorConfig};
    use tollgate_schemas::EpochMillis;

    fn config(events: u64) -> SimulatorConfig {
        SimulatorConfig {
            events,
            consumers: 50,
            days: 35,
            end: EpochMillis(1_719_792_000_000),
            format: GatewayMix::Mixed,
            seed: 4,
            bad_ratio: 0.0,
            duplicate_ratio: 0.0,
        }
    }

    #[test]
    fn write_lines_writes_one_line_per_message() {
        let mut sim = Simulator::new(config(500)).unwrap();
        let mut out = Vec::new();
        assert_eq!(write_lines(&mut sim, &mut out, None).unwrap(), 500);
        let lines: Vec<&[u8]> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 500);
        let again: Vec<Vec<u8>> = Simulator::new(config(500))
            .unwrap()
            .map(|l| l.text)
            .collect();
        assert!(lines.iter().zip(&again).all(|(a, b)| a == b));
    }

    #[test]
    fn a_rate_holds_the_pace() {
        let mut sim = Simulator::new(config(30)).unwrap();
        let started = Instant::now();
        assert_eq!(write_lines(&mut sim, io::sink(), Some(100.0)).unwrap(), 30);
        // 30 lines at 100 a second are due over 0.3 s.
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
}
