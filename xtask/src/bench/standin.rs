//! The stand-in binaries of `sesame-test-support` (`cloudflare-standin`,
//! `r2-standin`) as the benchmarks run them: built in release, started, and
//! read for the JSON line each prints first (its URLs and credentials).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A running stand-in binary; killed when dropped.
pub struct StandinProcess {
    child: Child,
    /// Its first line of output.
    pub info: Value,
}

impl Drop for StandinProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandinProcess {
    /// Builds `bin` of `sesame-test-support` (release) in the workspace at
    /// `root`, starts it with `args`, and reads its first line.
    pub fn start(root: &Path, bin: &str, args: &[&str]) -> Result<Self> {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "sesame-test-support",
                "--bin",
                bin,
            ])
            .current_dir(root)
            .status()?;
        if !status.success() {
            bail!("building {bin} failed");
        }
        let mut child = Command::new(super::release_dir(root).join(bin))
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let stdout = child.stdout.take().context("the stand-in's stdout")?;
        // Owned from here, so it is killed if its first line is not read.
        let mut standin = Self {
            child,
            info: Value::Null,
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        standin.info = serde_json::from_str(&line).with_context(|| format!("{bin}'s first line"))?;
        Ok(standin)
    }
}
