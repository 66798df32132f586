//! Masking: replacing every injected value in a byte stream with
//! [`MARKER`], for `sesame exec --mask`.
//!
//! [`MaskSet`] holds the values (through `aho-corasick`, never a matcher of
//! our own); [`MaskStream`] applies it to a stream read in chunks of any
//! size. Every occurrence of every value is found (overlapping ones too), and
//! each run of overlapping or touching-by-overlap occurrences becomes one
//! marker, so a value that overlaps another, or contains another, is hidden
//! completely. Between reads the stream keeps back the last
//! `longest value - 1` bytes, the only bytes that may still begin an
//! occurrence, so a value split across two reads is caught; memory stays
//! bounded by one chunk plus that tail.

use std::io::{self, Read, Write};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::SecretValue;

/// What a masked value is replaced with.
pub const MARKER: &[u8] = b"<concealed by sesame>";

/// Values with fewer characters than this are not masked (GitHub Actions
/// uses the same threshold): masking `1` or `yes` would replace every
/// occurrence in the log and make it unreadable while hiding little.
pub const MIN_MASKED_CHARS: usize = 4;

/// Why a value (or part of one) is not masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmasked {
    /// The secret or lease variable's name (never its value).
    pub name: String,
    /// `None`: the whole value is short; `Some(n)`: its line `n` (1-based)
    /// is short, so that line alone is not masked (the whole value still is).
    pub line: Option<usize>,
}

impl std::fmt::Display for Unmasked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            None => write!(
                f,
                "`{}` is shorter than {MIN_MASKED_CHARS} characters and is not masked in the output",
                self.name
            ),
            Some(line) => write!(
                f,
                "line {line} of `{}` is shorter than {MIN_MASKED_CHARS} characters; printed on its own it is not masked",
                self.name
            ),
        }
    }
}

/// The values to mask, compiled once per run. The automaton holds the
/// values' bytes, so its `Debug` shows only their number.
#[derive(Clone)]
pub struct MaskSet {
    matcher: AhoCorasick,
    longest: usize,
}

impl std::fmt::Debug for MaskSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskSet")
            .field("patterns", &self.matcher.patterns_len())
            .finish_non_exhaustive()
    }
}

impl MaskSet {
    /// Compiles the values of `named` (name, value): each whole value and,
    /// for multi-line values, each line on its own (without its `\r`).
    /// Returns `None` when nothing is left to mask, and the values left out
    /// for being short.
    pub fn new<'a>(named: impl IntoIterator<Item = (&'a str, &'a SecretValue)>) -> (Option<Self>, Vec<Unmasked>) {
        let mut patterns: Vec<&'a [u8]> = Vec::new();
        let mut unmasked = Vec::new();
        for (name, value) in named {
            let value = value.expose();
            if value.chars().count() < MIN_MASKED_CHARS {
                if !value.is_empty() {
                    unmasked.push(Unmasked {
                        name: name.to_string(),
                        line: None,
                    });
                }
                continue;
            }
            patterns.push(value.as_bytes());
            if value.contains('\n') {
                for (index, line) in value.split('\n').enumerate() {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    if line.chars().count() >= MIN_MASKED_CHARS {
                        patterns.push(line.as_bytes());
                    } else if !line.trim().is_empty() {
                        unmasked.push(Unmasked {
                            name: name.to_string(),
                            line: Some(index + 1),
                        });
                    }
                }
            }
        }
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return (None, unmasked);
        }
        let longest = patterns.iter().map(|p| p.len()).max().unwrap_or(1);
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("a few thousand literal patterns always compile");
        (Some(Self { matcher, longest }), unmasked)
    }

    /// The length in bytes of the longest pattern.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// `text` with every value replaced (for short texts such as recorded
    /// arguments).
    pub fn mask_str(&self, text: &str) -> String {
        let mut out = Vec::with_capacity(text.len());
        let mut stream = MaskStream::new(self);
        // Writing to a Vec cannot fail.
        let _ = stream.push(text.as_bytes(), &mut out);
        let _ = stream.finish(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Masks one stream: feed it chunks with [`MaskStream::push`] (or let it
/// read them itself with [`MaskStream::read_from`]) and call
/// [`MaskStream::finish`] at the end.
///
/// The stream owns one buffer: the kept-back tail of earlier chunks
/// (`buf[..held]`, at most `longest value - 1` bytes) followed by the room
/// the next chunk is read or copied into. Chunks with no value in them are
/// written out as they are, so each byte is copied in and out once.
pub struct MaskStream<'a> {
    set: &'a MaskSet,
    /// Kept-back bytes (`..held`), then room for the next chunk.
    buf: Vec<u8>,
    /// How many leading bytes of `buf` are kept back, not yet written.
    held: usize,
    /// Absolute stream offset of `buf[0]`.
    base: u64,
    /// Absolute offset up to which output is settled (written, or replaced
    /// by a marker already written).
    done: u64,
    /// Absolute end of the last masked region; an occurrence starting
    /// before it extends that region instead of adding a marker.
    covered: u64,
    matches: Vec<(u64, u64)>,
}

impl<'a> MaskStream<'a> {
    /// A stream masked with `set`.
    pub fn new(set: &'a MaskSet) -> Self {
        Self {
            set,
            buf: Vec::new(),
            held: 0,
            base: 0,
            done: 0,
            covered: 0,
            matches: Vec::new(),
        }
    }

    /// Reads once from `from`, at most `chunk` bytes, straight into the
    /// stream's buffer (after the kept-back tail), masks what was read and
    /// writes whatever is settled to `out`. Returns the bytes read: 0 at the
    /// end of `from`. The buffer never grows past `chunk + longest value`.
    pub fn read_from(&mut self, from: &mut impl Read, chunk: usize, out: &mut impl Write) -> io::Result<usize> {
        let room = self.held + chunk.max(1);
        if self.buf.len() < room {
            self.buf.resize(room, 0);
        }
        let read = from.read(&mut self.buf[self.held..room])?;
        if read > 0 {
            self.masked(self.held + read, out)?;
        }
        Ok(read)
    }

    /// Masks `chunk` (after what came before) and writes whatever is
    /// settled to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut impl Write) -> io::Result<()> {
        let filled = self.held + chunk.len();
        if self.buf.len() < filled {
            self.buf.resize(filled, 0);
        }
        self.buf[self.held..filled].copy_from_slice(chunk);
        self.masked(filled, out)
    }

    /// Writes out what is left at the end of the stream.
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let held = std::mem::take(&mut self.held);
        self.settle(&buf[..held], true, out)?;
        Ok(())
    }

    /// Masks `buf[..filled]`, writes the settled part and keeps the rest at
    /// the front of the buffer for the next chunk.
    fn masked(&mut self, filled: usize, out: &mut impl Write) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let settled = self.settle(&buf[..filled], false, out);
        self.buf = buf;
        let keep = settled?;
        self.buf.copy_within(keep..filled, 0);
        self.held = filled - keep;
        Ok(())
    }

    /// Scans `buf` (which starts at `self.base`), writes the settled part
    /// and returns how many leading bytes of `buf` are consumed; the rest
    /// must be presented again with the next chunk.
    fn settle(&mut self, buf: &[u8], last: bool, out: &mut impl Write) -> io::Result<usize> {
        let cut = if last {
            buf.len()
        } else {
            buf.len().saturating_sub(self.set.longest - 1)
        };
        // An occurrence starting before `cut` lies wholly inside `buf`;
        // later ones are found again next time.
        self.matches.clear();
        let base = self.base;
        self.matches.extend(
            self.set
                .matcher
                .find_overlapping_iter(buf)
                .filter(|m| m.start() < cut)
                .map(|m| (base + m.start() as u64, base + m.end() as u64)),
        );
        self.matches.sort_unstable();
        let local = |at: u64| (at - base) as usize;
        for &(start, end) in &self.matches {
            if start < self.covered {
                self.covered = self.covered.max(end);
                self.done = self.done.max(self.covered);
                continue;
            }
            out.write_all(&buf[local(self.done)..local(start)])?;
            out.write_all(MARKER)?;
            self.covered = end;
            self.done = end;
        }
        let cut_at = base + cut as u64;
        if self.done < cut_at {
            out.write_all(&buf[local(self.done)..cut])?;
            self.done = cut_at;
        }
        self.base = cut_at;
        Ok(cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> (MaskSet, Vec<Unmasked>) {
        let values: Vec<(String, SecretValue)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("S{i}"), SecretValue::new((*v).to_string())))
            .collect();
        let (set, unmasked) = MaskSet::new(values.iter().map(|(n, v)| (n.as_str(), v)));
        (set.expect("something to mask"), unmasked)
    }

    /// Masks `input` fed in chunks of every size from 1 to its length, and
    /// checks that every split gives the same output.
    fn masked(values: &[&str], input: &[u8]) -> String {
        let (set, _) = set(values);
        let mut whole = Vec::new();
        let mut stream = MaskStream::new(&set);
        stream.push(input, &mut whole).unwrap();
        stream.finish(&mut whole).unwrap();
        for size in 1..=input.len().max(1) {
            let mut out = Vec::new();
            let mut stream = MaskStream::new(&set);
            for chunk in input.chunks(size) {
                stream.push(chunk, &mut out).unwrap();
            }
            stream.finish(&mut out).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole),
                "chunks of {size}"
            );
            // The same, read by the stream itself into its own buffer.
            let mut out = Vec::new();
            let mut stream = MaskStream::new(&set);
            let mut from = input;
            while stream.read_from(&mut from, size, &mut out).unwrap() > 0 {
                assert!(stream.buf.len() <= size + set.longest());
            }
            stream.finish(&mut out).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole),
                "reads of {size}"
            );
        }
        String::from_utf8_lossy(&whole).into_owned()
    }

    const M: &str = "<concealed by sesame>";

    #[test]
    fn values_are_replaced_wherever_the_reads_split_them() {
        assert_eq!(
            masked(&["hunter22"], b"pw=hunter22 and hunter22."),
            format!("pw={M} and {M}.")
        );
        assert_eq!(masked(&["hunter22"], b"hunter2 hunter"), "hunter2 hunter");
    }

    #[test]
    fn substrings_and_overlaps_are_hidden_completely() {
        // One value inside another: the longer one is hidden whole.
        assert_eq!(masked(&["abcd", "xxabcdxx"], b"-xxabcdxx-abcd-"), format!("-{M}-{M}-"));
        // Two values overlapping in the output: neither leaves a trace.
        assert_eq!(masked(&["abcdef", "defghi"], b"<abcdefghi>"), format!("<{M}>"));
        // A value repeated so its occurrences overlap.
        assert_eq!(masked(&["abab"], b"ababababab!"), format!("{M}!"));
    }

    #[test]
    fn multi_line_values_are_masked_whole_and_line_by_line() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADAN\n-----END KEY-----";
        assert_eq!(masked(&[key], key.as_bytes()), M);
        // Printed one line at a time, or through a terminal's \r\n.
        let crlf = key.replace('\n', "\r\n");
        assert_eq!(masked(&[key], crlf.as_bytes()), format!("{M}\r\n{M}\r\n{M}"));
    }

    #[test]
    fn short_values_are_left_out_and_named() {
        let values = [
            ("SHORT".to_string(), SecretValue::new("1")),
            ("EMPTY".to_string(), SecretValue::new("")),
            ("PEM".to_string(), SecretValue::new("long line\nab\nmore text")),
        ];
        let (set, unmasked) = MaskSet::new(values.iter().map(|(n, v)| (n.as_str(), v)));
        let set = set.unwrap();
        assert_eq!(
            unmasked,
            [
                Unmasked {
                    name: "SHORT".into(),
                    line: None
                },
                Unmasked {
                    name: "PEM".into(),
                    line: Some(2)
                }
            ]
        );
        assert!(!unmasked.iter().any(|u| u.to_string().contains("ab\n")));
        assert_eq!(set.mask_str("1 ab long line"), format!("1 ab {M}"));
        assert!(!format!("{set:?}").contains("long line"), "Debug shows no value");
    }

    #[test]
    fn binary_output_passes_unchanged_except_for_values() {
        let mut input: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        input.extend_from_slice(b"\xff\x00s3cr3t-value\x00");
        let (set, _) = set(&["s3cr3t-value"]);
        let mut out = Vec::new();
        let mut stream = MaskStream::new(&set);
        for chunk in input.chunks(777) {
            stream.push(chunk, &mut out).unwrap();
        }
        stream.finish(&mut out).unwrap();
        let mut expected: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        expected.extend_from_slice(b"\xff\x00");
        expected.extend_from_slice(MARKER);
        expected.push(0);
        assert_eq!(out, expected);
    }

    #[test]
    fn the_kept_back_tail_stays_bounded() {
        let (set, _) = set(&["aaaa", "zzzzzzzzzzzzzzzz"]);
        let mut stream = MaskStream::new(&set);
        let mut out = Vec::new();
        // An endless run of one value: one marker, and no growth.
        for _ in 0..10_000 {
            stream
                .push(
                    b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                    &mut out,
                )
                .unwrap();
            assert!(stream.held < set.longest());
            assert!(stream.buf.len() <= set.longest() + 64);
        }
        stream.finish(&mut out).unwrap();
        assert_eq!(out, MARKER);
    }
}
