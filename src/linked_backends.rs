//! The backends the binary links (through this library, so `cargo xtask
//! docs` sees the same registrations). Adding a backend is adding its crate to
//! Cargo.toml and one `use` line here (and its type to `EXPECTED`).

use sesame_lease_cloudflare as _;
use sesame_lease_command as _;
use sesame_lease_r2 as _;
use sesame_provider_1password as _;
use sesame_provider_age as _;
use sesame_provider_env as _;
use sesame_provider_plain as _;

#[cfg(test)]
mod tests {
    /// Every type this binary must register, as `(kind, type)`.
    const EXPECTED: &[(&str, &str)] = &[
        ("lease", "command"),
        ("provider", "age"),
        ("provider", "plain"),
        ("provider", "env"),
        ("provider", "1password"),
        ("lease", "cloudflare"),
        ("lease", "r2"),
    ];

    #[test]
    fn every_expected_backend_is_registered() {
        let providers: Vec<&str> = sesame_core::provider::provider_types()
            .iter()
            .map(|r| r.type_name)
            .collect();
        let leases: Vec<&str> = sesame_core::lease::lease_types().iter().map(|r| r.type_name).collect();
        for (kind, name) in EXPECTED {
            let registered = if *kind == "provider" { &providers } else { &leases };
            assert!(
                registered.contains(name),
                "{kind} `{name}` is not registered: {registered:?}"
            );
        }
    }
}
