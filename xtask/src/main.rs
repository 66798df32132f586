//! `cargo xtask`: project chores that are code, not shell scripts.
//!
//! - `cargo xtask bench`: start-up overhead of `sesame exec` against a
//!   baseline measured in the same run (see docs/benchmarks.md).

mod bench;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask bench [--iterations N]");
            std::process::exit(2);
        }
    }
}
