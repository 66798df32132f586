//! Runs the Cloudflare API stand-in and the S3 stand-in (as R2) together
//! until killed, for benchmarks and demos: tokens minted on the Cloudflare
//! stand-in become S3 keys on the S3 one.
//!
//! Seeds a parent user token, buckets `photos` (with a few objects) and
//! `archive` (empty), and two hand-made keys (`source`: Object Read on
//! `photos`; `destination`: Object Read & Write on `archive`), then prints one
//! JSON line to stdout:
//!
//! ```json
//! {"base_url":"http://127.0.0.1:P/client/v4","parent_token":"...","endpoint":"http://127.0.0.1:Q",
//!  "account_id":"...","source":{"id":"...","secret":"..."},"destination":{"id":"...","secret":"..."}}
//! ```
//!
//! `--latency-ms N` delays every S3 answer by N ms (a network round trip).

use std::io::Write;
use std::time::Duration;

use sesame_test_support::cloudflare::{CloudflareStandin, TokenSpec, DEFAULT_ACCOUNT_ID};
use sesame_test_support::s3::{Access, Grant, S3Standin};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: r2-standin [--latency-ms N]\n\nStarts the Cloudflare and S3 stand-ins and prints their addresses and keys as one JSON line.");
        return;
    }
    let latency = args
        .iter()
        .position(|a| a == "--latency-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cf = CloudflareStandin::start();
    let s3 = S3Standin::start_for(DEFAULT_ACCOUNT_ID);
    s3.serve_cloudflare(&cf);
    s3.set_latency(Duration::from_millis(latency));
    for i in 0..5 {
        s3.put_object("photos", &format!("img-{i}.jpg"), format!("image {i}").as_bytes());
    }
    s3.create_bucket("archive");
    let (sid, ssecret) = s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let (did, dsecret) = s3.new_key(&[Grant::bucket("archive", Access::ObjectReadWrite)]);
    let parent = cf.add_user_token(TokenSpec::parent(&[]));
    let line = serde_json::json!({
        "base_url": cf.base_url(),
        "parent_token": parent.value,
        "endpoint": s3.endpoint(),
        "account_id": DEFAULT_ACCOUNT_ID,
        "source": {"id": sid, "secret": ssecret},
        "destination": {"id": did, "secret": dsecret},
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write to stdout");
    out.flush().expect("flush stdout");
    drop(out);
    loop {
        std::thread::park();
    }
}
