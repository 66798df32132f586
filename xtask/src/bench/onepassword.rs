//! 1Password batching: 30 references across 10 items whose names contain
//! spaces, with the `op` stand-in answering in 300 ms, against one `op`
//! call. Target: at most 1.1x. sesame reads them all with one `op inject`;
//! the stand-in's log counts the `op` processes of each run.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::json;

use super::{median, tempfile_dir, time, BenchContext};

const DELAY_MS: u64 = 300;

pub fn batching(ctx: &BenchContext) -> Result<()> {
    let dir = tempfile_dir()?.join("op");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    // The stand-in is a Python script; call the interpreter directly so a
    // version-manager shim (pyenv) does not add its own start-up to every call.
    let python = String::from_utf8(
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()?
            .stdout,
    )?;
    let standin = ctx.root.join("tests/support/op");
    let wrapper = bin.join("op");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' -S '{}' \"$@\"\n",
            python.trim(),
            standin.display()
        ),
    )?;
    Command::new("chmod").arg("+x").arg(&wrapper).status()?;

    let mut items = Vec::new();
    let mut config = String::from("[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\n[secrets]\n");
    for i in 0..10 {
        let title = format!("Service {i} api token");
        let fields: Vec<_> = ["password", "username", "endpoint"]
            .iter()
            .map(|label| json!({"id": label, "type": "CONCEALED", "label": label, "value": format!("{label}-{i}")}))
            .collect();
        items.push(json!({"title": title, "category": "API_CREDENTIAL", "fields": fields}));
        for label in ["password", "username", "endpoint"] {
            config.push_str(&format!(
                "S{i}_{} = {{ value = \"{title}/{label}\" }}\n",
                label.to_uppercase()
            ));
        }
    }
    let data = dir.join("op-data.json");
    std::fs::write(
        &data,
        serde_json::to_vec(&json!({"vaults": [{"name": "Development", "items": items}]}))?,
    )?;
    std::fs::write(dir.join("sesame.toml"), config)?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let iterations = (ctx.iterations / 30).max(5);
    let log = dir.join("op-log.jsonl");
    let (mut single, mut batched) = (Vec::new(), Vec::new());
    let mut processes = Vec::new();
    for _ in 0..iterations {
        let mut one = Command::new(&wrapper);
        one.args([
            "item",
            "get",
            "Service 0 api token",
            "--vault",
            "Development",
            "--format",
            "json",
        ])
        .env("OP_STANDIN_DATA", &data)
        .env("OP_STANDIN_DELAY_MS", DELAY_MS.to_string());
        single.push(time(&mut one).context("single op call")?);
        let mut all = Command::new(&ctx.sesame);
        all.args(["exec", "--", "true"])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("OP_STANDIN_DATA", &data)
            .env("OP_STANDIN_DELAY_MS", DELAY_MS.to_string())
            .env("OP_STANDIN_LOG", &log)
            .env("SESAME_STATE_DIR", dir.join("state"));
        std::fs::remove_file(&log).ok();
        batched.push(time(&mut all).context("sesame exec with 30 references")?);
        processes.push(std::fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0));
    }
    let (s, b) = (median(&single), median(&batched));
    println!("1password batching: `sesame exec` resolving 30 references across 10 items vs one `op item get` ({DELAY_MS} ms stand-in)");
    println!("  samples        {iterations}");
    processes.sort();
    processes.dedup();
    let processes: Vec<String> = processes.iter().map(ToString::to_string).collect();
    println!("  op processes   {} per sesame run", processes.join(" or "));
    println!("  one op call    median {:>8.1} ms", s.as_secs_f64() * 1000.0);
    println!("  sesame, 30 refs median {:>7.1} ms", b.as_secs_f64() * 1000.0);
    println!(
        "  ratio          {:.2}x (target <= 1.1x)",
        b.as_secs_f64() / s.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
