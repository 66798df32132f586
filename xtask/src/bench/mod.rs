//! Benchmarks that compare sesame against a baseline measured in the same
//! run, interleaved, so machine noise hits both alike. Figures are
//! reported as ratios and differences, never as absolute targets in tests.

mod age;
mod cloudflare;
mod exec;
mod mask;
mod onepassword;
mod r2;
mod scale;
mod standin;
mod variants;

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
    /// Other sesame binaries `exec` also measures, interleaved, each with
    /// a label: `--against PATH` (e.g. a build of an older commit) and
    /// `--variant NAME` (this tree built with one setting changed).
    pub others: Vec<(String, PathBuf)>,
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
    ("scale", scale::scale),
];

/// Runs the named benchmarks (all when none is named).
pub fn run(args: &[String]) -> Result<()> {
    let mut iterations = 300;
    let mut against = Vec::new();
    let mut variant_names = Vec::new();
    let mut names = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--iterations" => {
                iterations = rest.next().context("--iterations takes a number")?.parse()?;
            }
            "--against" => {
                let path = PathBuf::from(rest.next().context("--against takes the path of a sesame binary")?);
                against.push(std::fs::canonicalize(&path).with_context(|| format!("--against {}", path.display()))?);
            }
            "--variant" => {
                let name = rest.next().context("--variant takes a name")?;
                if !variants::names().contains(&name.as_str()) {
                    bail!("unknown variant `{name}`; known: {}", variants::names().join(", "));
                }
                variant_names.push(name.clone());
            }
            name if BENCHES.iter().any(|(n, _)| *n == name) => names.push(name.to_string()),
            other => bail!(
                "unknown benchmark `{other}`; usage: cargo xtask bench [--iterations N] [--against PATH]... [--variant NAME]... [{}]",
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
    let mut others = Vec::new();
    for (i, path) in against.iter().enumerate() {
        let copy = installed.join(format!("against-{i}")).join("sesame");
        std::fs::create_dir_all(copy.parent().expect("has a parent"))?;
        std::fs::copy(path, &copy).with_context(|| format!("copying {}", path.display()))?;
        others.push((format!("`{}`", path.display()), copy));
    }
    for name in &variant_names {
        others.push(variants::build(&root, name, &installed)?);
    }
    let ctx = BenchContext {
        sesame: installed.join("sesame"),
        root,
        iterations,
        others,
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

/// The peak resident set size of `cmd` in KiB, as GNU time's `%M` reports
/// it (`ru_maxrss`, across the programs it `exec`s), or `None` without
/// `/usr/bin/time`. Read through GNU time, a small process that forks: a
/// child spawned from this one would start sharing its memory (vfork) and
/// report this process's peak instead.
pub fn peak_rss_kib(cmd: &Command) -> Result<Option<u64>> {
    let gnu_time = Path::new("/usr/bin/time");
    if !gnu_time.exists() {
        return Ok(None);
    }
    let out = tempfile_dir()?.join("rss");
    let mut wrapped = Command::new(gnu_time);
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(&out)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    time(&mut wrapped)?;
    let text = std::fs::read_to_string(&out)?;
    let kib = text.trim().lines().last().unwrap_or_default().trim().parse()?;
    Ok(Some(kib))
}

/// The median of the per-pair ratios `measured[i] / baseline[i]` (pairs
/// ran back to back, so each ratio saw the same machine load).
pub fn median_ratio(baseline: &[Duration], measured: &[Duration]) -> f64 {
    let mut ratios: Vec<f64> = baseline
        .iter()
        .zip(measured)
        .map(|(b, m)| m.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
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
        "  overhead       {overhead_ms:>8.3} ms{target}   ratio of medians {:.2}x   median of paired ratios {:.2}x",
        mm.as_secs_f64() / mb.as_secs_f64(),
        median_ratio(baseline, measured)
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
