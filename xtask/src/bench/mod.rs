//! Benchmarks that compare sesame against a baseline measured in the same
//! run, interleaved, so machine noise hits both alike. Figures are
//! reported as ratios and differences, never as absolute targets in tests.

mod exec;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Runs every benchmark.
pub fn run(args: &[String]) -> Result<()> {
    let iterations = match args {
        [flag, n] if flag == "--iterations" => n.parse().context("--iterations takes a number")?,
        [] => 300,
        _ => bail!("usage: cargo xtask bench [--iterations N]"),
    };
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "sesame"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let sesame = root.join("target/release/sesame");
    // One line per benchmark; each lives in its own module.
    exec::exec_overhead(&sesame, iterations)?;
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// Runs a command to completion and returns how long it took.
pub fn time(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let status = cmd.stdin(Stdio::null()).stdout(Stdio::null()).status()?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("benchmark command failed: {cmd:?}");
    }
    Ok(elapsed)
}

/// The median sample.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints medians, p90, the difference and the ratio; `target_ms` is the
/// overhead the project aims for.
pub fn report(title: &str, baseline: &[Duration], measured: &[Duration], target_ms: f64) {
    let (mb, mm) = (median(baseline), median(measured));
    let overhead_ms = (mm.as_secs_f64() - mb.as_secs_f64()) * 1000.0;
    println!("{title}");
    println!("  samples        {}", measured.len());
    println!(
        "  baseline       median {:>8.3} ms   p90 {:>8.3} ms",
        ms(mb),
        ms(percentile(baseline, 0.9))
    );
    println!(
        "  sesame         median {:>8.3} ms   p90 {:>8.3} ms",
        ms(mm),
        ms(percentile(measured, 0.9))
    );
    println!(
        "  overhead       {overhead_ms:>8.3} ms (target <= {target_ms} ms)   ratio {:.2}x",
        mm.as_secs_f64() / mb.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh scratch directory.
pub fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sesame-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
