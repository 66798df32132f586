//! The `age` provider: one run resolving 50 age-encrypted secrets against
//! one resolving 50 `env` secrets, interleaved, through `sesame get` of
//! every value (`export --format json`). Target: at most 1.2x. The values
//! are encrypted by the real `age` CLI (fnox's format: base64 of the binary
//! file), so the benchmark depends on nothing sesame wrote.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{median, report, tempfile_dir, time, BenchContext};

const SECRETS: usize = 50;

pub fn fifty_secrets(ctx: &BenchContext) -> Result<()> {
    let dir = tempfile_dir()?.join("age");
    std::fs::create_dir_all(dir.join("age"))?;
    std::fs::create_dir_all(dir.join("env"))?;
    let keygen = Command::new("age-keygen")
        .output()
        .context("age-keygen (Debian package `age`)")?;
    let identity = String::from_utf8(keygen.stdout)?;
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .context("age-keygen printed no public key")?
        .to_string();
    let key = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .context("age-keygen printed no key")?
        .to_string();

    let mut age_config = format!("[providers.age]\ntype = \"age\"\nrecipients = [\"{recipient}\"]\n\n[secrets]\n");
    let mut env_config = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    let mut vars = Vec::new();
    for i in 0..SECRETS {
        let value = format!("value-{i}-postgresql://user:password@db.example:5432/app");
        age_config.push_str(&format!(
            "SECRET_{i} = {{ provider = \"age\", value = \"{}\" }}\n",
            encrypt(&recipient, &value)?
        ));
        env_config.push_str(&format!(
            "SECRET_{i} = {{ provider = \"env\", value = \"BENCH_{i}\" }}\n"
        ));
        vars.push((format!("BENCH_{i}"), value));
    }
    std::fs::write(dir.join("age/sesame.toml"), age_config)?;
    std::fs::write(dir.join("env/sesame.toml"), env_config)?;

    let run = |which: &str| {
        let mut cmd = Command::new(&ctx.sesame);
        cmd.args(["export", "--format", "json"])
            .current_dir(dir.join(which))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("SESAME_STATE_DIR", dir.join("state"))
            .env("SESAME_AGE_KEY", &key)
            .envs(vars.iter().map(|(k, v)| (k, v)));
        cmd
    };
    // Both resolve, with the same values.
    let check = |which: &str| -> Result<String> {
        let out = run(which).output()?;
        if !out.status.success() {
            bail!("{which}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    if check("age")? != check("env")? {
        bail!("the age and env configurations resolve to different values");
    }
    let (mut env_samples, mut age_samples) = (Vec::new(), Vec::new());
    for _ in 0..(ctx.iterations / 3).max(20) {
        env_samples.push(time(&mut run("env"))?);
        age_samples.push(time(&mut run("age"))?);
    }
    report(
        &format!("age provider: {SECRETS} age secrets (sesame) vs {SECRETS} env secrets (baseline), one export each; target <= 1.2x"),
        &env_samples,
        &age_samples,
        f64::INFINITY,
    );
    let ratio = median(&age_samples).as_secs_f64() / median(&env_samples).as_secs_f64();
    println!(
        "  target         ratio <= 1.20x: {}",
        if ratio <= 1.2 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// `age -r RECIPIENT`, base64 (fnox's format).
fn encrypt(recipient: &str, value: &str) -> Result<String> {
    let mut child = Command::new("age")
        .args(["-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("age (Debian package `age`)")?;
    child.stdin.take().context("stdin")?.write_all(value.as_bytes())?;
    let out = child.wait_with_output()?;
    let mut b64 = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    b64.stdin.take().context("stdin")?.write_all(&out.stdout)?;
    Ok(String::from_utf8(b64.wait_with_output()?.stdout)?)
}
