//! How fast the mask scans, in memory, with no pipes: the text and the 50
//! values of `cargo xtask bench mask`, fed through [`MaskStream`] in the
//! relay's 256 KiB chunks, against the matcher alone and a plain copy.
//!
//! `cargo run --release -p sesame-core --example mask_scan`
//!
//! The relay cannot be faster than its scan: when the scan alone is slower
//! than the unmasked pipeline, no relay that scans every byte once on the
//! same cores can keep up with it (docs/benchmarks.md, issue 15).

use std::io;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasickBuilder, MatchKind};
use sesame_core::mask::{MaskSet, MaskStream};
use sesame_core::SecretValue;

/// The bench's lines: a build log's, with and without near misses of the
/// values' common prefix (`sec-0`, `sec-1`).
const LINES: [(&str, &str); 2] = [
    (
        "near misses",
        "step 42/97: compiling sec-0 module (sec-1 cache hit) ok, took 12ms; no tokens here\n",
    ),
    (
        "plain log",
        "step 42/97: compiling the module (cache hit) ok, took 12ms; no tokens here\n",
    ),
];
const TEXT_BYTES: usize = 256 << 20;
const CHUNK: usize = 256 << 10;

fn main() {
    let values: Vec<String> = (0..50u128)
        .map(|i| format!("sec-{i:02}-{:032x}", 0x9e37_79b9_7f4a_7c15u128 * (i + 1)))
        .collect();
    let secrets: Vec<(String, SecretValue)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("SECRET_{i}"), SecretValue::new(v.clone())))
        .collect();
    let (set, _) = MaskSet::new(secrets.iter().map(|(n, v)| (n.as_str(), v)));
    let set = set.expect("50 long values");
    let matcher = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build(&values)
        .expect("literal patterns compile");
    for (label, line) in LINES {
        let text = line.repeat(TEXT_BYTES / line.len()).into_bytes();
        measure(label, &text, &set, &matcher);
    }
}

/// Times a copy, the matcher alone and [`MaskStream`] over `text`.
fn measure(label: &str, text: &[u8], set: &MaskSet, matcher: &aho_corasick::AhoCorasick) {
    let gib = text.len() as f64 / f64::from(1u32 << 30);
    let rate = |d: Duration| gib / d.as_secs_f64();

    let copy = best_of(3, || {
        let mut out = vec![0u8; CHUNK];
        for chunk in text.chunks(CHUNK) {
            out[..chunk.len()].copy_from_slice(chunk);
            std::hint::black_box(&out);
        }
    });
    let scan = best_of(3, || {
        let found: usize = text
            .chunks(CHUNK)
            .map(|c| matcher.find_overlapping_iter(c).count())
            .sum();
        assert_eq!(found, 0);
    });
    let stream = best_of(3, || {
        let mut stream = MaskStream::new(set);
        let mut sink = io::sink();
        for chunk in text.chunks(CHUNK) {
            stream.push(chunk, &mut sink).expect("a sink takes everything");
        }
        stream.finish(&mut sink).expect("a sink takes everything");
    });
    println!(
        "mask scan, in memory, {} MiB of the bench's text ({label}), 50 values:",
        text.len() >> 20
    );
    println!("  copy (memcpy per chunk)          {:6.2} GiB/s", rate(copy));
    println!("  aho-corasick alone (overlapping) {:6.2} GiB/s", rate(scan));
    println!("  MaskStream (scan and settle)     {:6.2} GiB/s", rate(stream));
}

/// The shortest of `runs` timings of `work`.
fn best_of(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}
