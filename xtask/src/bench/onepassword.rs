//! 1Password batching: 30 references across 10 items whose names contain
//! spaces, with the `op` stand-in answering in 300 ms, against one `op`
//! call. Target: at most 1.1x. sesame reads them all with one `op inject`;
//! the stand-in's log counts the `op` processes of each run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::json;

use super::{median, tempfile_dir, time, BenchContext};

const DELAY_MS: u64 = 300;

/// A project whose secrets are 1Password references, with the `op`
/// stand-in on `PATH`.
pub struct OpProject {
    /// The project directory.
    pub dir: PathBuf,
    /// The `op` wrapper script.
    pub wrapper: PathBuf,
    /// The stand-in's data file.
    pub data: PathBuf,
    /// `PATH` with the wrapper first.
    pub path: String,
}

impl OpProject {
    /// `items` items (names with spaces) of `fields` fields each, every
    /// field a secret: `items * fields` references (at most 3 fields).
    pub fn new(ctx: &BenchContext, name: &str, items: usize, fields: usize) -> Result<Self> {
        let dir = tempfile_dir()?.join(name);
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

        let labels = &["password", "username", "endpoint"][..fields];
        let mut all = Vec::new();
        let mut config = String::from("[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\n[secrets]\n");
        for i in 0..items {
            let title = format!("Service {i} api token");
            let item_fields: Vec<_> = labels
                .iter()
                .map(|label| json!({"id": label, "type": "CONCEALED", "label": label, "value": format!("{label}-{i}")}))
                .collect();
            all.push(json!({"title": title, "category": "API_CREDENTIAL", "fields": item_fields}));
            for label in labels {
                config.push_str(&format!(
                    "S{i}_{} = {{ value = \"{title}/{label}\" }}\n",
                    label.to_uppercase()
                ));
            }
        }
        let data = dir.join("op-data.json");
        std::fs::write(
            &data,
            serde_json::to_vec(&json!({"vaults": [{"name": "Development", "items": all}]}))?,
        )?;
        std::fs::write(dir.join("sesame.toml"), config)?;
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        Ok(Self {
            dir,
            wrapper,
            data,
            path,
        })
    }

    /// `sesame exec -- true` in the project, the stand-in answering after
    /// `delay_ms` and logging its processes to `log`.
    pub fn sesame(&self, sesame: &Path, delay_ms: u64, log: &Path) -> Command {
        let mut all = Command::new(sesame);
        all.args(["exec", "--", "true"])
            .current_dir(&self.dir)
            .env("PATH", &self.path)
            .env("OP_STANDIN_DATA", &self.data)
            .env("OP_STANDIN_DELAY_MS", delay_ms.to_string())
            .env("OP_STANDIN_LOG", log)
            .env("SESAME_STATE_DIR", self.dir.join("state"));
        all
    }
}

pub fn batching(ctx: &BenchContext) -> Result<()> {
    let project = OpProject::new(ctx, "op", 10, 3)?;
    let (dir, wrapper, data) = (&project.dir, &project.wrapper, &project.data);
    let iterations = (ctx.iterations / 30).max(5);
    let log = dir.join("op-log.jsonl");
    let (mut single, mut batched) = (Vec::new(), Vec::new());
    let mut processes = Vec::new();
    for _ in 0..iterations {
        let mut one = Command::new(wrapper);
        one.args([
            "item",
            "get",
            "Service 0 api token",
            "--vault",
            "Development",
            "--format",
            "json",
        ])
        .env("OP_STANDIN_DATA", data)
        .env("OP_STANDIN_DELAY_MS", DELAY_MS.to_string());
        single.push(time(&mut one).context("single op call")?);
        let mut all = project.sesame(&ctx.sesame, DELAY_MS, &log);
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
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
