//! Newline-delimited messages with a bound on how much of a line is kept.
//!
//! A log file may hold a multi-gigabyte "line" (a binary file passed by
//! mistake); reading it whole would exhaust memory. [`LineReader`] keeps at
//! most `max_len + 1` bytes of a line (enough to know it is too long) and
//! skips the rest.

use std::io::{self, BufRead};

/// One line read by [`LineReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The bytes kept, without the line terminator (`\n` or `\r\n`).
    pub bytes: Vec<u8>,
    /// Length of the whole line in bytes, which exceeds `bytes.len()` when
    /// the line was longer than the bound.
    pub full_len: usize,
}

/// Reads lines of at most `max_len` kept bytes from a [`BufRead`].
pub struct LineReader<R> {
    inner: R,
    max_len: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader that keeps up to `max_len + 1` bytes of each line.
    pub fn new(inner: R, max_len: usize) -> Self {
        LineReader {
            inner,
            max_len,
            number: 0,
        }
    }

    /// The next line, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut full_len = 0usize;
        let mut saw_any = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                break;
            }
            saw_any = true;
            let (chunk, done) = match memchr(buf) {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            full_len += chunk.len();
            let room = (self.max_len + 1).saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = done.unwrap_or(chunk.len());
            self.inner.consume(used);
            if done.is_some() {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        if bytes.last() == Some(&b'\r') && full_len == bytes.len() {
            bytes.pop();
            full_len -= 1;
        }
        self.number += 1;
        Ok(Some(Line {
            number: self.number,
            bytes,
            full_len,
        }))
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let lines = all(b"ab\r\ncd\n\nlast", 100);
        let texts: Vec<&[u8]> = lines.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(texts, vec![&b"ab"[..], b"cd", b"", b"last"]);
        assert_eq!(lines[3].number, 4);
    }

    #[test]
    fn long_lines_are_cut_but_measured() {
        let lines = all(b"0123456789\nok\n", 3);
        assert_eq!(lines[0].bytes, b"0123");
        assert_eq!(lines[0].full_len, 10);
        assert_eq!(lines[1].bytes, b"ok");
        assert_eq!(lines[1].full_len, 2);
    }
}
