//! Start-up overhead of `sesame exec` with env secrets.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use super::{report, tempfile_dir, time, BenchContext};

/// `sesame exec -- true` with 20 env secrets against `env A=.. true`.
pub fn exec_overhead(ctx: &BenchContext) -> Result<()> {
    let (sesame, iterations) = (ctx.sesame.as_path(), ctx.iterations);
    let dir = tempfile_dir()?;
    let mut config = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    let mut pairs = Vec::new();
    for i in 0..20 {
        config.push_str(&format!("SECRET_{i} = {{ provider = \"env\", value = \"SRC_{i}\" }}\n"));
        pairs.push((format!("SRC_{i}"), format!("value-{i}-{}", "x".repeat(32))));
    }
    std::fs::write(dir.join("sesame.toml"), config)?;
    let state = dir.join("state");
    let baseline_args: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={v}", k.replace("SRC", "SECRET")))
        .collect();

    let sesame_exec = |binary: &Path| {
        let mut s = Command::new(binary);
        s.args(["exec", "--", "true"])
            .current_dir(&dir)
            .envs(pairs.iter().cloned())
            .env("SESAME_STATE_DIR", &state);
        s
    };
    let mut with_sesame = Vec::with_capacity(iterations);
    let mut baseline = Vec::with_capacity(iterations);
    let mut with_other = Vec::with_capacity(iterations);
    for i in 0..iterations + 10 {
        let mut runs = vec![sesame_exec(sesame), {
            let mut b = Command::new("env");
            b.args(&baseline_args).arg("true").current_dir(&dir);
            b
        }];
        if let Some(other) = &ctx.against {
            runs.push(sesame_exec(other));
        }
        // Alternate the order so none always follows another.
        let mut times = vec![Duration::ZERO; runs.len()];
        let order: Vec<usize> = if i % 2 == 0 {
            (0..runs.len()).collect()
        } else {
            (0..runs.len()).rev().collect()
        };
        for k in order {
            times[k] = time(&mut runs[k])?;
        }
        if i < 10 {
            continue; // warm-up
        }
        with_sesame.push(times[0]);
        baseline.push(times[1]);
        if let Some(t) = times.get(2) {
            with_other.push(*t);
        }
    }
    report(
        "exec overhead: `sesame exec -- true` (20 env secrets) vs `env A=.. true`",
        &baseline,
        &with_sesame,
        1.0,
    );
    if let Some(other) = &ctx.against {
        println!();
        report(
            &format!("exec before/after: this build vs `{}` (baseline)", other.display()),
            &with_other,
            &with_sesame,
            f64::INFINITY,
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
