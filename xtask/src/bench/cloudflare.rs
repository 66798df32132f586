//! Cloudflare leases against the `cloudflare-standin` binary:
//!
//! 1. Concurrency: `exec` with three `reuse = false` leases against one,
//!    with 200 ms added to every API call. Leases are minted (and revoked)
//!    concurrently, so three should cost about what one does. Target: at
//!    most 1.3x.
//! 2. Reuse: the second `exec` with a reusable lease makes no HTTP request
//!    (checked with the stand-in's request counter) and starts within 1.2x
//!    of an `exec` with one env secret.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::standin::StandinProcess;
use super::{median, tempfile_dir, time, BenchContext};

const LATENCY_MS: u64 = 200;

/// The running stand-in.
struct Standin {
    _process: StandinProcess,
    base_url: String,
    admin: String,
    parent: String,
}

impl Standin {
    fn start(root: &Path) -> Result<Self> {
        let process = StandinProcess::start(root, "cloudflare-standin", &[])?;
        let info = &process.info;
        let text = |key: &str| info[key].as_str().map(str::to_string).context("stand-in info");
        let admin = text("admin_url")?;
        Ok(Self {
            base_url: text("base_url")?,
            admin: admin
                .trim_start_matches("http://")
                .trim_end_matches("/__standin")
                .to_string(),
            parent: text("parent_token")?,
            _process: process,
        })
    }

    /// One admin-API call (`/__standin/...`), plain HTTP/1.1.
    fn admin(&self, method: &str, path: &str, body: &str) -> Result<Value> {
        let mut stream = TcpStream::connect(&self.admin)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} /__standin/{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.admin,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").context("an HTTP answer")?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("stand-in admin {method} {path}: {head}");
        }
        Ok(serde_json::from_str(body)?)
    }

    fn request_count(&self) -> Result<u64> {
        self.admin("GET", "stats", "")?["request_count"]
            .as_u64()
            .context("request_count")
    }

    fn live_user_tokens(&self) -> Result<u64> {
        self.admin("GET", "stats", "")?["live_user_tokens"]
            .as_u64()
            .context("live_user_tokens")
    }
}

/// `[leases.NAME]` tables that inherit the parent's policies (so the file
/// needs no trust): verify, read the parent, create; then delete after.
fn leases_config(names: &[&str], reuse: bool) -> String {
    names
        .iter()
        .map(|name| format!("[leases.{name}]\ntype = \"cloudflare\"\nduration = \"1h\"\nenv_var = \"{}_TOKEN\"\nreuse = {reuse}\n\n", name.to_uppercase()))
        .collect()
}

fn sesame(ctx: &BenchContext, dir: &Path, standin: &Standin) -> Command {
    let mut cmd = Command::new(&ctx.sesame);
    cmd.args(["exec", "--", "true"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SESAME_STATE_DIR", dir.join("state"))
        .env("SESAME_CONFIG_DIR", dir.join("config"))
        .env("CLOUDFLARE_API_BASE_URL", &standin.base_url)
        .env("CLOUDFLARE_API_TOKEN", &standin.parent)
        .env("ENV_SECRET_SRC", "value-of-an-env-secret");
    cmd
}

fn summary(title: &str, baseline: (&str, &[Duration]), measured: (&str, &[Duration])) {
    println!("{title}");
    println!("  samples        {}", measured.1.len());
    for (name, samples) in [baseline, measured] {
        println!("  {name:<14} median {:>8.3} ms", median(samples).as_secs_f64() * 1000.0);
    }
}

fn ratio(measured: &[Duration], baseline: &[Duration]) -> f64 {
    median(measured).as_secs_f64() / median(baseline).as_secs_f64()
}

/// Both Cloudflare benchmarks.
pub fn leases(ctx: &BenchContext) -> Result<()> {
    let standin = Standin::start(&ctx.root)?;
    standin.admin("PUT", "faults", &format!("{{\"latency_ms\": {LATENCY_MS}}}"))?;
    let base = tempfile_dir()?.join("cloudflare");
    let (one_dir, three_dir, reuse_dir, env_dir) = (
        base.join("one"),
        base.join("three"),
        base.join("reuse"),
        base.join("env"),
    );
    let env_only = "[providers.env]\ntype = \"env\"\n\n[secrets]\nENV_SECRET = { provider = \"env\", value = \"ENV_SECRET_SRC\" }\n";
    for (dir, config) in [
        (&one_dir, leases_config(&["a"], false)),
        (&three_dir, leases_config(&["a", "b", "c"], false)),
        (&reuse_dir, format!("{env_only}\n{}", leases_config(&["a"], true))),
        (&env_dir, env_only.to_string()),
    ] {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("sesame.toml"), config)?;
    }

    // 1. Three leases against one, each minted and revoked.
    let iterations = (ctx.iterations / 30).max(5);
    let (mut one, mut three) = (Vec::new(), Vec::new());
    for i in 0..iterations + 1 {
        let t1 = time(&mut sesame(ctx, &one_dir, &standin)).context("exec with one lease")?;
        let t3 = time(&mut sesame(ctx, &three_dir, &standin)).context("exec with three leases")?;
        if i > 0 {
            one.push(t1);
            three.push(t3);
        }
    }
    summary(
        &format!("cloudflare leases: `exec` with 3 leases vs 1 lease ({LATENCY_MS} ms per API call, reuse = false)"),
        ("1 lease", &one),
        ("3 leases", &three),
    );
    let concurrency = ratio(&three, &one);
    println!(
        "  3 leases / 1 lease   {concurrency:.2}x (target <= 1.30x) {}",
        if concurrency <= 1.3 { "ok" } else { "MISSED" }
    );
    let left = standin.live_user_tokens()?;
    println!(
        "  live tokens after    {} (the parent only: every lease was revoked)",
        left
    );

    // 2. A reused lease: no request, about the cost of an env-only exec.
    time(&mut sesame(ctx, &reuse_dir, &standin)).context("first exec with a reusable lease")?;
    let before = standin.request_count()?;
    let (mut reused, mut env) = (Vec::new(), Vec::new());
    for i in 0..ctx.iterations + 10 {
        let (a, b) = if i % 2 == 0 {
            let a = time(&mut sesame(ctx, &reuse_dir, &standin))?;
            (a, time(&mut sesame(ctx, &env_dir, &standin))?)
        } else {
            let b = time(&mut sesame(ctx, &env_dir, &standin))?;
            (time(&mut sesame(ctx, &reuse_dir, &standin))?, b)
        };
        if i >= 10 {
            reused.push(a);
            env.push(b);
        }
    }
    let requests = standin.request_count()? - before;
    summary(
        "cloudflare reuse: second `exec` with a reusable lease vs an env-only `exec`",
        ("env only", &env),
        ("reused lease", &reused),
    );
    let reuse_ratio = ratio(&reused, &env);
    println!(
        "  reused / env-only    {reuse_ratio:.2}x (target <= 1.20x) {}",
        if reuse_ratio <= 1.2 { "ok" } else { "MISSED" }
    );
    println!(
        "  HTTP requests        {requests} in {} reused runs (target 0) {}",
        reused.len(),
        if requests == 0 { "ok" } else { "MISSED" }
    );
    std::fs::remove_dir_all(&base).ok();
    if requests != 0 {
        bail!("a reused lease made {requests} HTTP requests");
    }
    Ok(())
}
