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

    #[test]
    fn every_contributed_command_is_named_as_registered() {
        use clap::CommandFactory;
        let built_in: Vec<String> = crate::cli::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        let commands = sesame_core::command::commands();
        assert!(!commands.is_empty(), "lease-r2 contributes `r2`");
        for registration in commands {
            assert_eq!((registration.command)().get_name(), registration.name);
            assert!(sesame_core::command::find_command(registration.name).is_some());
            // The binary looks contributed commands up first: one named like
            // a built-in would take its place.
            assert!(
                !built_in.iter().any(|b| b == registration.name),
                "`{}` is a built-in command",
                registration.name
            );
        }
    }
}
