//! `sesame r2 verify` concurrency, against the `r2-standin` binary (the
//! Cloudflare stand-in plus the in-process S3 server), once with no added
//! latency and once with 25 ms added to every S3 answer, like a nearby
//! region:
//!
//! 1. static targets (hand-made keys, as Cloney's guide makes them): the
//!    pre-flight `--source src --destination dst` against `verify src`;
//! 2. minted leases (`reuse = false`: mint, wait until live, verify, revoke)
//!    the same way.
//!
//! Targets and their checks run concurrently, so verifying two buckets
//! should cost about what the slower one does alone (the read-write
//! destination: its probe is PutObject, GetObject, DeleteObject in turn).
//! Target: at most 1.5x, at both latencies, for both kinds of target. The
//! ratio to the source alone is printed too, and the load average.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::standin::StandinProcess;
use super::{median, tempfile_dir, time, BenchContext};

/// Server latencies measured, in ms per S3 answer.
const LATENCIES_MS: [u64; 2] = [0, 25];

/// The running stand-ins.
struct Standin(StandinProcess);

impl Standin {
    fn start(root: &Path, latency_ms: u64) -> Result<Self> {
        let latency = latency_ms.to_string();
        StandinProcess::start(root, "r2-standin", &["--latency-ms", &latency]).map(Self)
    }

    fn get(&self, path: &[&str]) -> String {
        let mut v = &self.0.info;
        for p in path {
            v = &v[*p];
        }
        v.as_str().unwrap_or_default().to_string()
    }
}

pub fn verify_concurrency(ctx: &BenchContext) -> Result<()> {
    for latency in LATENCIES_MS {
        verify_at(ctx, latency)?;
    }
    Ok(())
}

fn verify_at(ctx: &BenchContext, latency_ms: u64) -> Result<()> {
    let standin = Standin::start(&ctx.root, latency_ms)?;
    let dir = tempfile_dir()?.join(format!("r2-{latency_ms}"));
    std::fs::create_dir_all(&dir)?;
    let (account, endpoint) = (standin.get(&["account_id"]), standin.get(&["endpoint"]));
    let lease = |name: &str, bucket: &str, access: &str, extra: &str| {
        format!(
            "[leases.{name}]\ntype = \"r2\"\naccount_id = \"{account}\"\nbucket = \"{bucket}\"\naccess = \"{access}\"\n\
             endpoint = \"{endpoint}\"\n{extra}\n\n"
        )
    };
    let mut config = String::from(
        "[providers.env]\ntype = \"env\"\n\n[secrets]\nSRC_ID = { provider = \"env\", value = \"SRC_ID\" }\n\
         SRC_SECRET = { provider = \"env\", value = \"SRC_SECRET\" }\nDST_ID = { provider = \"env\", value = \"DST_ID\" }\n\
         DST_SECRET = { provider = \"env\", value = \"DST_SECRET\" }\n\n",
    );
    config += &lease(
        "src",
        "photos",
        "read",
        "static = { access_key_id = { secret = \"SRC_ID\" }, secret_access_key = { secret = \"SRC_SECRET\" } }",
    );
    config += &lease(
        "dst",
        "archive",
        "read-write",
        "static = { access_key_id = { secret = \"DST_ID\" }, secret_access_key = { secret = \"DST_SECRET\" } }",
    );
    config += &lease("msrc", "photos", "read", "reuse = false\nenv_prefix = \"SRC_\"");
    config += &lease("mdst", "archive", "read-write", "reuse = false\nenv_prefix = \"DST_\"");
    let file = dir.join("sesame.toml");
    std::fs::write(&file, config)?;
    let run = |args: &[&str]| {
        let mut c = Command::new(&ctx.sesame);
        c.arg("-c")
            .arg(&file)
            .args(["r2", "verify"])
            .args(args)
            .current_dir(&dir)
            .env("SESAME_STATE_DIR", dir.join("state"))
            .env("CLOUDFLARE_API_TOKEN", standin.get(&["parent_token"]))
            .env("CLOUDFLARE_API_BASE_URL", standin.get(&["base_url"]))
            .env("SRC_ID", standin.get(&["source", "id"]))
            .env("SRC_SECRET", standin.get(&["source", "secret"]))
            .env("DST_ID", standin.get(&["destination", "id"]))
            .env("DST_SECRET", standin.get(&["destination", "secret"]));
        c
    };
    let iterations = (ctx.iterations / 15).max(10);
    println!(
        "r2 verify: source + destination vs one bucket ({latency_ms} ms per S3 answer, {iterations} samples each; \
         load average {})",
        load_average()
    );
    for (title, src, dst) in [("static targets", "src", "dst"), ("minted leases ", "msrc", "mdst")] {
        let both = ["--source", src, "--destination", dst];
        let (mut alone_src, mut alone_dst, mut pair) = (Vec::new(), Vec::new(), Vec::new());
        // Ratios within one round (the three runs back to back), so load
        // from other processes on the machine hits both sides alike.
        let (mut to_slower, mut to_source) = (Vec::new(), Vec::new());
        for i in 0..iterations + 2 {
            // Rotate the order so none always follows another.
            let mut runs = [(0, run(&[src])), (1, run(&[dst])), (2, run(&both))];
            runs.rotate_left(i % 3);
            let mut round = [std::time::Duration::ZERO; 3];
            for (which, cmd) in &mut runs {
                round[*which] = time(cmd).with_context(|| format!("{title}: sesame r2 verify"))?;
            }
            if i >= 2 {
                let [s, d, p] = round;
                alone_src.push(s);
                alone_dst.push(d);
                pair.push(p);
                to_slower.push(p.as_secs_f64() / s.max(d).as_secs_f64());
                to_source.push(p.as_secs_f64() / s.as_secs_f64());
            }
        }
        let (s, d, p) = (median(&alone_src), median(&alone_dst), median(&pair));
        let ms = |t: std::time::Duration| t.as_secs_f64() * 1000.0;
        let mid = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "  {title}  source alone {:>6.1} ms   destination alone {:>6.1} ms   both {:>6.1} ms   \
             ratio {:.2}x the slower bucket (target <= 1.5x), {:.2}x the source (medians of per-round ratios)",
            ms(s),
            ms(d),
            ms(p),
            mid(to_slower),
            mid(to_source)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), to print beside
/// the figures: on a busy machine the ratios are noisier.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
