//! Link settings for the `sesame` executables (no code is generated).
//!
//! On Linux with glibc, the executables are linked with packed relative
//! relocations (`DT_RELR`, glibc 2.36 and binutils 2.38 or later; older
//! linkers ignore the option with a warning). `sesame` is a
//! position-independent executable with about 15,000 relative relocations:
//! as classic `RELA` entries they are a 445 KB table that the dynamic
//! loader reads at every start, packed they are 5 KB. Measured on
//! `exec -- true` with 20 secrets: peak RSS 8.9 -> 7.7 MiB, with the same
//! instruction count (docs/benchmarks.md).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
