//! Throughput and memory of `sesame exec --mask`: a command writing 1 GiB
//! through the mask with 50 secrets, against the same command with
//! `--no-mask` (sesame execs it in place), interleaved, in one run.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{median, tempfile_dir, BenchContext};

const GIB: u64 = 1 << 30;

/// Runs `cmd` with stdout drained through a pipe (as a CI runner reads a
/// job's log); returns the time, the bytes read and sesame's peak RSS (KiB).
fn run_drained(cmd: &mut Command) -> Result<(Duration, u64, i64)> {
    let start = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?;
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
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; wait4 reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    if rc != pid || std::process::ExitStatus::from_raw(status).code() != Some(0) {
        bail!("benchmark command failed: {cmd:?}");
    }
    Ok((elapsed, total, usage.ru_maxrss))
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
    // Text a build log might hold, with near misses of the secrets
    // (their common prefix), so the matcher has work to do.
    let line = "step 42/97: compiling sec-0 module (sec-1 cache hit) ok, took 12ms; no tokens here";
    let sesame = |mask: &str, bytes: u64| {
        let mut c = Command::new(&ctx.sesame);
        c.args([
            "exec",
            mask,
            "--",
            "sh",
            "-c",
            &format!("yes '{line}' | head -c {bytes}"),
        ])
        .current_dir(&dir)
        .envs(env.iter().cloned())
        .env("SESAME_STATE_DIR", dir.join("state"));
        c
    };
    let rounds = (ctx.iterations / 100).clamp(3, 7);
    let (mut masked, mut plain) = (Vec::new(), Vec::new());
    let mut rss = 0;
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            ["--mask", "--no-mask"]
        } else {
            ["--no-mask", "--mask"]
        };
        for mode in order {
            let (time, bytes, peak) = run_drained(&mut sesame(mode, GIB))?;
            if bytes != GIB {
                bail!("{mode}: read {bytes} bytes, expected {GIB}");
            }
            if mode == "--mask" {
                masked.push(time);
                rss = rss.max(peak);
            } else {
                plain.push(time);
            }
        }
    }
    // Memory does not grow with output: peak RSS after 1 GiB vs after 16 MiB.
    let (_, _, small_rss) = run_drained(&mut sesame("--mask", 16 << 20))?;
    let (m, p) = (median(&masked), median(&plain));
    let gib_s = |d: Duration| GIB as f64 / d.as_secs_f64() / GIB as f64;
    println!("mask throughput: 1 GiB through `sesame exec --mask` (50 secrets) vs `--no-mask`");
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
    println!(
        "  throughput     ratio {:.2}x (target >= 0.8x)",
        p.as_secs_f64() / m.as_secs_f64()
    );
    println!("  sesame peak RSS  {small_rss} KiB after 16 MiB, {rss} KiB after 1 GiB");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
