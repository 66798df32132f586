//! The migration guide's copy recipes (docs/migration-preflight.md, section
//! 3), taken word for word from the page and run through `sesame exec` with
//! the real clients, rclone and the AWS CLI, against moto (real SigV4 and
//! IAM): 20 objects, some of 5 MiB, names with spaces and non-ASCII
//! characters, must arrive byte for byte, and the source's credentials must
//! not be able to write to the source.
//!
//! rclone comes from Debian and the AWS CLI from moto's virtualenv (both
//! installed by `.ci/run`). Without them, these tests print a notice and
//! pass, except when CI asked for them (as the moto tests do).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::r2_moto::{moto, Moto};
use crate::support::{sesame_bin, Sandbox};

const GUIDE: &str = include_str!("../../docs/migration-preflight.md");

/// The guide's code blocks of `lang` that contain `marker`.
fn blocks(lang: &str, marker: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    GUIDE
        .split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block.to_string()))
        .filter(|block| block.contains(marker))
        .collect()
}

/// The one `sh` block holding `marker`, with the guide's bucket names
/// replaced by moto's.
fn recipe(marker: &str) -> String {
    let found = blocks("sh", marker);
    assert_eq!(found.len(), 1, "the guide has one recipe with `{marker}`");
    found[0]
        .replace("photos-archive", "moto-dest")
        .replace("photos", "moto-source")
}

/// The AWS CLI beside moto's server, or None (with a notice) when absent
/// and not required.
fn clients(moto: &Moto) -> Option<PathBuf> {
    let bin = moto.python.parent().unwrap().to_path_buf();
    let have_rclone = Command::new("rclone")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !bin.join("aws").is_file() || !have_rclone {
        let required = ["CI", "SESAME_REQUIRE_MOTO"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes")));
        assert!(
            !required,
            "rclone and the AWS CLI are required here; .ci/run installs them"
        );
        eprintln!("notice: skipping the migration recipes: rclone or the AWS CLI is missing");
        return None;
    }
    Some(bin)
}

/// Runs python with boto3 as moto's `wide` user (s3:* everywhere).
fn boto(moto: &Moto, script: &str, args: &[&str]) -> String {
    let (id, secret) = &moto.users["wide"];
    let prelude = "import boto3, hashlib, json, sys\n\
                   c = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], \
                   aws_secret_access_key=sys.argv[3], region_name='us-east-1')\n";
    let out = Command::new(&moto.python)
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .args([moto.endpoint.as_str(), id, secret])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Key -> SHA-256 of every object in `bucket`.
fn digests(moto: &Moto, bucket: &str) -> Value {
    let script = "pages = c.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[4])\n\
                  keys = [o['Key'] for p in pages for o in p.get('Contents', [])]\n\
                  print(json.dumps({k: hashlib.sha256(c.get_object(Bucket=sys.argv[4], Key=k)['Body'].read()).hexdigest() for k in keys}))";
    serde_json::from_str(&boto(moto, script, &[bucket])).unwrap()
}

/// Fills the source with 18 more objects (20 in all): three of 5 MiB and
/// more, names with spaces, non-ASCII characters and punctuation.
fn seed(moto: &Moto) {
    let script = "import os\n\
                  names = ['big one.bin', 'big/två.bin', 'big/三.bin'] + \
                  ['dir with space/file %d.txt' % i for i in range(5)] + \
                  ['ünïcødé/日本語 ファイル %d.txt' % i for i in range(5)] + \
                  ['odd/a+b=c&d %d.txt' % i for i in range(5)]\n\
                  for i, n in enumerate(names):\n\
                  \x20   body = os.urandom(5 * 1024 * 1024 + i) if i < 3 else ('object %d: %s\\n' % (i, n)).encode()\n\
                  \x20   c.put_object(Bucket='moto-source', Key=n, Body=body)\n";
    boto(moto, script, &[]);
}

fn empty_destination(moto: &Moto) {
    let script = "for o in c.list_objects_v2(Bucket='moto-dest').get('Contents', []):\n\
                  \x20   c.delete_object(Bucket='moto-dest', Key=o['Key'])\n";
    boto(moto, script, &[]);
}

/// A sandbox with the guide's two static leases on moto, `extra` lines
/// added to each lease table, and sesame, rclone and the AWS CLI on PATH.
fn sandbox(moto: &Moto, bin: &Path, extra: [&str; 2]) -> Sandbox {
    let mut config = String::from(
        "[providers.env]\ntype = \"env\"\n\n[secrets]\nSRC_ID = { provider = \"env\", value = \"SRC_ID\" }\n\
         SRC_SECRET = { provider = \"env\", value = \"SRC_SECRET\" }\nDST_ID = { provider = \"env\", value = \"DST_ID\" }\n\
         DST_SECRET = { provider = \"env\", value = \"DST_SECRET\" }\n",
    );
    for ((lease, bucket, access, prefix), extra) in [
        ("src", "moto-source", "read", "SRC"),
        ("dst", "moto-dest", "read-write", "DST"),
    ]
    .into_iter()
    .zip(extra)
    {
        config.push_str(&format!(
            "\n[leases.{lease}]\ntype = \"r2\"\nbucket = \"{bucket}\"\naccess = \"{access}\"\nendpoint = \"{}\"\n\
             env_prefix = \"{prefix}_\"\nstatic = {{ access_key_id = {{ secret = \"{prefix}_ID\" }}, \
             secret_access_key = {{ secret = \"{prefix}_SECRET\" }} }}\n{extra}\n",
            moto.endpoint
        ));
    }
    let mut sb = Sandbox::new(&config);
    let sesame_dir = Path::new(sesame_bin()).parent().unwrap().display().to_string();
    let path = format!("{sesame_dir}:{}:{}", bin.display(), sb.env["PATH"]);
    sb.set("PATH", &path)
        .set("SRC_ID", &moto.users["reader"].0)
        .set("SRC_SECRET", &moto.users["reader"].1)
        .set("DST_ID", &moto.users["writer"].0)
        .set("DST_SECRET", &moto.users["writer"].1);
    sb.trust_project();
    sb
}

/// Runs a recipe with `sh -c` in the project directory.
fn run_recipe(sb: &Sandbox, script: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(sb.project())
        .env_clear()
        .envs(&sb.env)
        .output()
        .unwrap()
}

#[test]
fn the_guides_rclone_and_aws_recipes_copy_every_object_byte_for_byte() {
    let Some(moto) = moto() else { return };
    let Some(bin) = clients(&moto) else { return };
    seed(&moto);
    let source = digests(&moto, "moto-source");
    assert_eq!(source.as_object().unwrap().len(), 20);

    // rclone, with the guide's `env` maps on the leases.
    let maps = blocks("toml", "RCLONE_CONFIG_SRC_ACCESS_KEY_ID");
    assert_eq!(maps.len(), 1);
    let env_lines: Vec<&str> = maps[0].lines().filter(|l| l.starts_with("env = ")).collect();
    assert_eq!(env_lines.len(), 2, "{maps:?}");
    // moto takes any region; R2 wants `auto`, which only the mapped
    // AWS_REGION output gives rclone.
    for (line, remote) in env_lines.iter().zip(["SRC", "DST"]) {
        assert!(
            line.contains(&format!("AWS_REGION = \"RCLONE_CONFIG_{remote}_REGION\"")),
            "{line}"
        );
    }
    let sb = sandbox(&moto, &bin, [env_lines[0], env_lines[1]]);
    let out = run_recipe(&sb, &recipe("rclone copy"));
    assert!(
        out.status.success(),
        "rclone recipe failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        digests(&moto, "moto-dest"),
        source,
        "rclone copied every object byte for byte"
    );

    // The AWS CLI, through a local directory, with the prefixed outputs.
    empty_destination(&moto);
    let sb = sandbox(&moto, &bin, ["", ""]);
    let out = run_recipe(&sb, &recipe("aws s3 cp"));
    assert!(
        out.status.success(),
        "aws recipe failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        digests(&moto, "moto-dest"),
        source,
        "the AWS CLI copied every object byte for byte"
    );

    // The source's credentials, as sesame hands them over, cannot write to
    // the source.
    let write = "sesame exec -- sh -c 'echo intruder > note.txt && \
                 AWS_ACCESS_KEY_ID=\"$SRC_AWS_ACCESS_KEY_ID\" AWS_SECRET_ACCESS_KEY=\"$SRC_AWS_SECRET_ACCESS_KEY\" \
                 AWS_ENDPOINT_URL_S3=\"$SRC_AWS_ENDPOINT_URL_S3\" AWS_DEFAULT_REGION=\"$SRC_AWS_REGION\" \
                 aws s3 cp note.txt s3://moto-source/note.txt'";
    let out = run_recipe(&sb, write);
    assert!(!out.status.success(), "the source credentials wrote to the source");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert_eq!(digests(&moto, "moto-source"), source, "the source is unchanged");
}
