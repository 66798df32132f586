//! Runs the Cloudflare API stand-in until killed, for benchmarks and demos.
//!
//! Seeds one parent user token holding "API Tokens Write" (plus "Account API
//! Tokens Write" on every account) and "Zone Read", then prints one JSON line
//! to stdout:
//!
//! ```json
//! {"base_url":"http://127.0.0.1:PORT/client/v4","parent_token":"...","parent_token_id":"...","admin_url":"http://127.0.0.1:PORT/__standin"}
//! ```
//!
//! Faults and inspection are then available through the admin API.

use std::io::Write;

use sesame_test_support::cloudflare::{groups, CloudflareStandin, TokenSpec};

fn main() {
    if std::env::args().nth(1).is_some_and(|a| a == "--help" || a == "-h") {
        println!(
            "usage: cloudflare-standin\n\nStarts the Cloudflare API stand-in on 127.0.0.1 (random port), \
             seeds a parent user token and prints {{\"base_url\", \"parent_token\", ...}} as one JSON line."
        );
        return;
    }
    let standin = CloudflareStandin::start();
    let parent = standin.add_user_token(TokenSpec::parent(&[groups::ZONE_READ]));
    let line = serde_json::json!({
        "base_url": standin.base_url(),
        "parent_token": parent.value,
        "parent_token_id": parent.id,
        "admin_url": standin.admin_url(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write to stdout");
    out.flush().expect("flush stdout");
    drop(out);
    loop {
        std::thread::park();
    }
}
