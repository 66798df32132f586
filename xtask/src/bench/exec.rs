//! Start-up overhead of `sesame exec` with env secrets.

use std::process::Command;

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

    let mut with_sesame = Vec::with_capacity(iterations);
    let mut baseline = Vec::with_capacity(iterations);
    for i in 0..iterations + 10 {
        let mut s = Command::new(sesame);
        s.args(["exec", "--", "true"])
            .current_dir(&dir)
            .envs(pairs.iter().cloned())
            .env("SESAME_STATE_DIR", &state);
        let mut b = Command::new("env");
        b.args(&baseline_args).arg("true").current_dir(&dir);
        // Alternate which goes first so neither always follows the other.
        let (first, second) = if i % 2 == 0 { (&mut s, &mut b) } else { (&mut b, &mut s) };
        let t1 = time(first)?;
        let t2 = time(second)?;
        if i < 10 {
            continue; // warm-up
        }
        let (ts, tb) = if i % 2 == 0 { (t1, t2) } else { (t2, t1) };
        with_sesame.push(ts);
        baseline.push(tb);
    }
    report(
        "exec overhead: `sesame exec -- true` (20 env secrets) vs `env A=.. true`",
        &baseline,
        &with_sesame,
        1.0,
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
