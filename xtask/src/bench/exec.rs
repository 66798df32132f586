//! Start-up overhead and peak memory of `sesame exec` with env secrets,
//! against `env` given the same variables.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use super::{median_ratio, peak_rss_kib, report, tempfile_dir, time, BenchContext};

/// The sizes measured and the ratio to `env` each aims for.
const SIZES: &[(usize, f64)] = &[(20, 1.3), (200, 1.5)];

/// Peak RSS sesame may add to `env`'s, in KiB.
const RSS_TARGET_KIB: u64 = 3 * 1024;

/// A project with `count` env secrets, and what `sesame exec` and `env`
/// need to see the same variables.
pub struct EnvProject {
    /// The project directory (holds sesame.toml).
    pub dir: PathBuf,
    /// `SRC_i=value` pairs the env provider reads.
    pub sources: Vec<(String, String)>,
    /// `SECRET_i=value` arguments for `env`.
    pub env_args: Vec<String>,
}

impl EnvProject {
    /// Writes the project under the bench's scratch directory.
    pub fn new(count: usize) -> Result<Self> {
        let dir = tempfile_dir()?.join(format!("env-{count}"));
        std::fs::create_dir_all(&dir)?;
        let mut config = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
        let mut sources = Vec::new();
        for i in 0..count {
            config.push_str(&format!("SECRET_{i} = {{ provider = \"env\", value = \"SRC_{i}\" }}\n"));
            sources.push((format!("SRC_{i}"), format!("value-{i}-{}", "x".repeat(32))));
        }
        std::fs::write(dir.join("sesame.toml"), config)?;
        let env_args = sources
            .iter()
            .map(|(k, v)| format!("{}={v}", k.replace("SRC", "SECRET")))
            .collect();
        Ok(Self { dir, sources, env_args })
    }

    /// `BINARY exec -- true` in the project.
    pub fn sesame(&self, binary: &Path) -> Command {
        let mut s = Command::new(binary);
        s.args(["exec", "--", "true"])
            .current_dir(&self.dir)
            .envs(self.sources.iter().cloned())
            .env("SESAME_STATE_DIR", self.dir.join("state"));
        s
    }

    /// `env SECRET_i=.. true`.
    pub fn env(&self) -> Command {
        let mut b = Command::new("env");
        b.args(&self.env_args).arg("true").current_dir(&self.dir);
        b
    }
}

/// Samples of one command across the interleaved rounds.
#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    rss_kib: Vec<u64>,
}

fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// `sesame exec -- true` with 20 and 200 env secrets against `env` with
/// the same variables (and `--against`'s binary, when given).
pub fn exec_overhead(ctx: &BenchContext) -> Result<()> {
    for (i, &(count, target)) in SIZES.iter().enumerate() {
        if i > 0 {
            println!();
        }
        // Fewer rounds for the larger size keeps the whole run short.
        let iterations = if count > 20 { ctx.iterations / 2 } else { ctx.iterations }.max(5);
        one_size(ctx, count, target, iterations)?;
    }
    Ok(())
}

fn one_size(ctx: &BenchContext, count: usize, target: f64, iterations: usize) -> Result<()> {
    let project = EnvProject::new(count)?;
    let (mut sesame, mut env) = (Samples::default(), Samples::default());
    let mut others: Vec<Samples> = ctx.others.iter().map(|_| Samples::default()).collect();
    for i in 0..iterations + 10 {
        let mut runs = vec![project.sesame(&ctx.sesame), project.env()];
        runs.extend(ctx.others.iter().map(|(_, binary)| project.sesame(binary)));
        // Alternate the order so none always follows another.
        // Peak RSS from a few rounds (it barely varies), times from all.
        let measure_rss = (10..15).contains(&i);
        let mut results = vec![(Duration::ZERO, None); runs.len()];
        let order: Vec<usize> = if i % 2 == 0 {
            (0..runs.len()).collect()
        } else {
            (0..runs.len()).rev().collect()
        };
        for k in order {
            let rss = if measure_rss { peak_rss_kib(&runs[k])? } else { None };
            results[k] = (time(&mut runs[k])?, rss);
        }
        if i < 10 {
            continue; // warm-up
        }
        let all = [&mut sesame, &mut env].into_iter().chain(others.iter_mut());
        for (samples, (time, rss)) in all.zip(results) {
            samples.times.push(time);
            samples.rss_kib.extend(rss);
        }
    }
    report(
        &format!("exec overhead: `sesame exec -- true` ({count} env secrets) vs `env A=.. true` ({count} variables)"),
        &env.times,
        &sesame.times,
        f64::INFINITY,
    );
    let paired = median_ratio(&env.times, &sesame.times);
    println!(
        "  target         median of paired ratios <= {target:.2}x   {}",
        if paired <= target { "ok" } else { "MISSED" }
    );
    let (rss_sesame, rss_env) = (median_u64(&sesame.rss_kib), median_u64(&env.rss_kib));
    let extra = rss_sesame.saturating_sub(rss_env);
    if sesame.rss_kib.is_empty() {
        println!("  peak RSS       not measured (needs GNU time at /usr/bin/time)");
    } else {
        println!(
            "  peak RSS       sesame {:.2} MiB, env {:.2} MiB: +{:.2} MiB (target <= +{:.0} MiB) {}",
            rss_sesame as f64 / 1024.0,
            rss_env as f64 / 1024.0,
            extra as f64 / 1024.0,
            RSS_TARGET_KIB as f64 / 1024.0,
            if extra <= RSS_TARGET_KIB { "ok" } else { "MISSED" }
        );
    }
    for ((label, _), other) in ctx.others.iter().zip(&others) {
        println!();
        report(
            &format!("exec ({count} secrets): this build vs {label} (ratio = this build / it)"),
            &other.times,
            &sesame.times,
            f64::INFINITY,
        );
        println!(
            "  peak RSS       this build {:.2} MiB, it {:.2} MiB",
            rss_sesame as f64 / 1024.0,
            median_u64(&other.rss_kib) as f64 / 1024.0
        );
    }
    std::fs::remove_dir_all(&project.dir).ok();
    Ok(())
}
