//! Benchmarks that compare sesame against a baseline measured in the same
//! run, interleaved, so machine noise hits both alike. Figures are
//! reported as ratios and differences, never as absolute targets in tests.

mod age;
mod cloudflare;
mod exec;
mod mask;
mod onepassword;
mod r2;
mod standin;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What every benchmark gets.
pub struct BenchContext {
    /// The release binary (a copy, with `sesame-s3` beside it).
    pub sesame: PathBuf,
    /// The workspace root.
    pub root: PathBuf,
    /// Iterations for the fast benchmarks (slow ones scale it down).
    pub iterations: usize,
    /// Another sesame binary (`--against PATH`, e.g. a build of an older
    /// commit) that `exec` also measures, interleaved, for a before/after
    /// ratio in the same run.
    pub against: Option<PathBuf>,
}

/// A benchmark: its name (for `cargo xtask bench NAME`) and its function.
type Bench = (&'static str, fn(&BenchContext) -> Result<()>);

/// Every benchmark, in the order they run. Add one line per benchmark.
const BENCHES: &[Bench] = &[
    ("exec", exec::exec_overhead),
    ("mask", mask::throughput),
    ("op", onepassword::batching),
    ("cloudflare", cloudflare::leases),
    ("r2", r2::verify_concurrency),
    ("age", age::fifty_secrets),
];

/// Runs the named benchmarks (all when none is named).
pub fn run(args: &[String]) -> Result<()> {
    let mut iterations = 300;
    let mut against = None;
    let mut names = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--iterations" => {
                iterations = rest.next().context("--iterations takes a number")?.parse()?;
            }
            "--against" => {
                let path = PathBuf::from(rest.next().context("--against takes the path of a sesame binary")?);
                against = Some(std::fs::canonicalize(&path).with_context(|| format!("--against {}", path.display()))?);
            }
            name if BENCHES.iter().any(|(n, _)| *n == name) => names.push(name.to_string()),
            other => bail!(
                "unknown benchmark `{other}`; usage: cargo xtask bench [--iterations N] [--against PATH] [{}]",
                BENCHES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("|")
            ),
        }
    }
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "sesame"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    // Measure installed-like copies, not the linker's output: a freshly
    // linked file sits in the page cache in a form that starts measurably
    // slower (0.4 ms here) until it is evicted and read back, which would
    // make a fresh build look slower than an older binary. `cargo install`
    // copies the same way.
    let installed = std::env::temp_dir().join(format!("sesame-bench-bin-{}", std::process::id()));
    std::fs::create_dir_all(&installed)?;
    for name in ["sesame", "sesame-s3"] {
        std::fs::copy(release_dir(&root).join(name), installed.join(name))
            .with_context(|| format!("copying target/release/{name}"))?;
    }
    let against = match against {
        Some(path) => {
            let copy = installed.join("against").join("sesame");
            std::fs::create_dir_all(copy.parent().expect("has a parent"))?;
            std::fs::copy(&path, &copy).with_context(|| format!("copying {}", path.display()))?;
            Some(copy)
        }
        None => None,
    };
    let ctx = BenchContext {
        sesame: installed.join("sesame"),
        root,
        iterations,
        against,
    };
    let result = BENCHES
        .iter()
        .filter(|(name, _)| names.is_empty() || names.iter().any(|n| n == name))
        .try_for_each(|(_, bench)| {
            bench(&ctx)?;
            println!();
            Ok(())
        });
    std::fs::remove_dir_all(&installed).ok();
    result
}

/// Where `cargo build --release` puts binaries: `$CARGO_TARGET_DIR/release`
/// when that is set, else `target/release` in the workspace.
pub fn release_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => root.join(dir).join("release"),
        None => root.join("target/release"),
    }
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
/// overhead the project aims for (infinite: none).
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
    let target = if target_ms.is_finite() {
        format!(" (target <= {target_ms} ms)")
    } else {
        String::new()
    };
    println!(
        "  overhead       {overhead_ms:>8.3} ms{target}   ratio {:.2}x",
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
