//! Throughput and memory of `sesame exec --mask`: a command writing 1 GiB
//! through the mask with 50 secrets, against the same command with
//! `--no-mask` (sesame execs it in place), interleaved, in one run; for a
//! log with near misses of the values and for one without, each also
//! through `cat` (what a relay costs that copies and does not scan).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{median, median_ratio, tempfile_dir, BenchContext};

const GIB: u64 = 1 << 30;

/// Runs `cmd` under GNU time with stdout drained through a pipe (as a CI
/// runner reads a job's log); returns the time, the bytes read and the
/// peak RSS in KiB (`%M`: the largest of sesame and the programs it runs
/// or `exec`s into). GNU time forks the command itself: a child spawned
/// from this process would start out sharing its memory (vfork) and
/// report this process's peak.
fn run_drained(cmd: &Command, rss_file: &Path) -> Result<(Duration, u64, u64)> {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let start = Instant::now();
    let mut child = wrapped
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("/usr/bin/time (Debian package `time`)")?;
    let mut out = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = out.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let status = child.wait()?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("benchmark command failed: {cmd:?}");
    }
    let text = std::fs::read_to_string(rss_file)?;
    let kib = text.trim().lines().last().unwrap_or_default().trim().parse()?;
    Ok((elapsed, total, kib))
}

/// `sesame exec --mask -- sh -c 'yes LINE | head -c N'` vs `--no-mask`.
pub fn throughput(ctx: &BenchContext) -> Result<()> {
    let dir = tempfile_dir()?;
    let mut config = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    let mut env = Vec::new();
    for i in 0..50 {
        config.push_str(&format!("SECRET_{i} = {{ provider = \"env\", value = \"SRC_{i}\" }}\n"));
        env.push((
            format!("SRC_{i}"),
            format!("sec-{i:02}-{:032x}", 0x9e37_79b9_7f4a_7c15u128 * (i + 1)),
        ));
    }
    std::fs::write(dir.join("sesame.toml"), config)?;
    // Text a build log might hold: with near misses of the secrets (their
    // common prefix, twice a line), so the matcher has work to do, and
    // without.
    for (label, line) in [
        (
            "near misses",
            "step 42/97: compiling sec-0 module (sec-1 cache hit) ok, took 12ms; no tokens here",
        ),
        (
            "plain log",
            "step 42/97: compiling the module (cache hit) ok, took 12ms; no tokens here",
        ),
    ] {
        one_text(ctx, &dir, &env, label, line)?;
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// The three runs (`--mask`, `--no-mask`, `--no-mask` through `cat`) for
/// output made of `line`.
fn one_text(ctx: &BenchContext, dir: &Path, env: &[(String, String)], label: &str, line: &str) -> Result<()> {
    // `relay` appends a process the output passes through unmasked.
    let command = |mask: &str, bytes: u64, relay: &str| {
        let mut c = Command::new(&ctx.sesame);
        c.args([
            "exec",
            mask,
            "--",
            "sh",
            "-c",
            &format!("yes '{line}' | head -c {bytes}{relay}"),
        ])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().cloned())
        .env("SESAME_STATE_DIR", dir.join("state"));
        c
    };
    let sesame = |mask: &str, bytes: u64| command(mask, bytes, "");
    // The ceiling for any relay: the same output through GNU `cat`, which
    // copies it from one pipe to another (a read and a write per chunk)
    // without looking at it. A masking relay does that copy and scans.
    let cat_relay = command("--no-mask", GIB, " | cat");
    let rounds = (ctx.iterations / 60).clamp(3, 9);
    let rss_file = dir.join("rss");
    let (mut masked, mut plain, mut relayed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut masked_rss, mut plain_rss) = (0, 0);
    for round in 0..rounds {
        // Interleaved, each mode first in every other round.
        let order = if round % 2 == 0 {
            ["--mask", "--no-mask"]
        } else {
            ["--no-mask", "--mask"]
        };
        let mut pair = [Duration::ZERO; 2];
        for mode in order {
            let (time, bytes, peak) = run_drained(&sesame(mode, GIB), &rss_file)?;
            if bytes != GIB {
                bail!("{mode}: read {bytes} bytes, expected {GIB}");
            }
            if mode == "--mask" {
                pair[1] = time;
                masked_rss = masked_rss.max(peak);
            } else {
                pair[0] = time;
                plain_rss = plain_rss.max(peak);
            }
        }
        plain.push(pair[0]);
        masked.push(pair[1]);
        let (time, bytes, _) = run_drained(&cat_relay, &rss_file)?;
        if bytes != GIB {
            bail!("| cat: read {bytes} bytes, expected {GIB}");
        }
        relayed.push(time);
    }
    // Memory does not grow with output: peak RSS after 16 MiB vs 1 GiB.
    let (_, _, small_rss) = run_drained(&sesame("--mask", 16 << 20), &rss_file)?;
    let (m, p) = (median(&masked), median(&plain));
    let gib_s = |d: Duration| GIB as f64 / d.as_secs_f64() / GIB as f64;
    println!("mask throughput ({label}): 1 GiB through `sesame exec --mask` (50 secrets) vs `--no-mask`");
    println!("  rounds         {rounds} (interleaved)");
    println!(
        "  --no-mask      median {:>8.3} s   {:.2} GiB/s",
        p.as_secs_f64(),
        gib_s(p)
    );
    println!(
        "  --mask         median {:>8.3} s   {:.2} GiB/s",
        m.as_secs_f64(),
        gib_s(m)
    );
    let c = median(&relayed);
    println!(
        "  | cat          median {:>8.3} s   {:.2} GiB/s (--no-mask, output copied through `cat`: a relay that does not scan)",
        c.as_secs_f64(),
        gib_s(c)
    );
    let paired = 1.0 / median_ratio(&plain, &masked);
    println!(
        "  throughput     ratio of medians {:.2}x   median of paired ratios {paired:.2}x (target >= 0.8x: {})",
        p.as_secs_f64() / m.as_secs_f64(),
        if paired >= 0.8 { "met" } else { "NOT met" }
    );
    println!(
        "  bare relay     `| cat` vs --no-mask: median of paired ratios {:.2}x; --mask vs `| cat`: {:.2}x",
        1.0 / median_ratio(&plain, &relayed),
        1.0 / median_ratio(&relayed, &masked)
    );
    println!(
        "  peak RSS       --mask: {small_rss} KiB after 16 MiB, {masked_rss} KiB after 1 GiB; --no-mask: {plain_rss} KiB"
    );
    Ok(())
}
