//! How `exec`'s cost grows with the number of secrets: 20, 200 and 1,000
//! `env` secrets, and 20 and 200 1Password references (across 10 and 100
//! items, the `op` stand-in answering at once). Reported as the cost of one
//! more secret between sizes; a step that grows faster than linearly shows
//! as a larger cost per secret at the larger sizes.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::exec::EnvProject;
use super::onepassword::OpProject;
use super::{median, time, BenchContext};

/// Cost per added secret between two sizes, in microseconds.
fn per_secret_us(small: (usize, Duration), large: (usize, Duration)) -> f64 {
    (large.1.as_secs_f64() - small.1.as_secs_f64()) * 1e6 / (large.0 - small.0) as f64
}

/// Runs every command once per round, in alternating order, and returns
/// each one's median.
fn interleaved(commands: &mut [Command], rounds: usize) -> Result<Vec<Duration>> {
    let mut samples = vec![Vec::new(); commands.len()];
    for round in 0..rounds + 2 {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..commands.len()).collect()
        } else {
            (0..commands.len()).rev().collect()
        };
        for k in order {
            let t = time(&mut commands[k]).with_context(|| format!("{:?}", commands[k]))?;
            if round >= 2 {
                samples[k].push(t);
            }
        }
    }
    Ok(samples.iter().map(|s| median(s)).collect())
}

/// Both scale benchmarks.
pub fn scale(ctx: &BenchContext) -> Result<()> {
    let rounds = (ctx.iterations / 5).max(10);
    let sizes = [20, 200, 1000];
    let projects = sizes.iter().map(|&n| EnvProject::new(n)).collect::<Result<Vec<_>>>()?;
    let mut commands: Vec<Command> = projects.iter().map(|p| p.sesame(&ctx.sesame)).collect();
    let medians = interleaved(&mut commands, rounds)?;
    println!("scale: `sesame exec -- true` with 20, 200 and 1,000 env secrets ({rounds} rounds)");
    for (n, t) in sizes.iter().zip(&medians) {
        println!("  {n:>5} secrets  median {:>8.3} ms", t.as_secs_f64() * 1000.0);
    }
    let first = per_secret_us((sizes[0], medians[0]), (sizes[1], medians[1]));
    let second = per_secret_us((sizes[1], medians[1]), (sizes[2], medians[2]));
    println!("  per secret     {first:.2} us (20 -> 200), {second:.2} us (200 -> 1,000)");
    println!(
        "  growth         {:.2}x per secret from the first step to the second (about 1 is linear)",
        second / first
    );
    for project in &projects {
        std::fs::remove_dir_all(&project.dir).ok();
    }

    println!();
    let rounds = (ctx.iterations / 30).max(5);
    let small = OpProject::new(ctx, "op-20", 10, 2)?;
    let large = OpProject::new(ctx, "op-200", 100, 2)?;
    let (small_log, large_log) = (small.dir.join("op-log.jsonl"), large.dir.join("op-log.jsonl"));
    let mut commands = [
        small.sesame(&ctx.sesame, 0, &small_log),
        large.sesame(&ctx.sesame, 0, &large_log),
    ];
    std::fs::remove_file(&large_log).ok();
    let medians = interleaved(&mut commands, rounds)?;
    let processes = std::fs::read_to_string(&large_log)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("scale: `sesame exec -- true` with 20 and 200 1Password references (10 and 100 items; stand-in at 0 ms; {rounds} rounds)");
    for (n, t) in [20, 200].iter().zip(&medians) {
        println!("  {n:>5} refs     median {:>8.3} ms", t.as_secs_f64() * 1000.0);
    }
    println!(
        "  per reference  {:.1} us (sesame and the stand-in together)",
        per_secret_us((20, medians[0]), (200, medians[1]))
    );
    println!(
        "  op processes   {:.1} per run with 200 references",
        processes as f64 / (rounds + 2) as f64
    );
    for project in [&small, &large] {
        std::fs::remove_dir_all(&project.dir).ok();
    }
    Ok(())
}
