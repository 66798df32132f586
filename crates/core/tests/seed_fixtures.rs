//! Every TOML example of the fnox Cloudflare lease page parses, verbatim,
//! into sesame's config model.

use std::path::PathBuf;

use sesame_core::config::{load, LoadOptions};

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/seed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn all_six_seed_examples_are_present() {
    assert_eq!(fixtures().len(), 6);
}

#[test]
fn seed_examples_parse_into_the_model() {
    for file in fixtures() {
        let options = LoadOptions {
            cwd: std::env::temp_dir(),
            explicit: Some((file.clone(), "--config")),
            ..LoadOptions::default()
        };
        let config = load(&options).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let cf = &config.leases["cf"];
        assert_eq!(cf.type_name, "cloudflare", "{}", file.display());
        assert!(cf.table.contains_key("duration"), "{}", file.display());
    }
}

#[test]
fn stored_credentials_example_keeps_provider_and_policies() {
    let file = fixtures()
        .into_iter()
        .find(|f| f.ends_with("04-stored-credentials.toml"))
        .unwrap();
    let options = LoadOptions {
        cwd: std::env::temp_dir(),
        explicit: Some((file, "--config")),
        ..LoadOptions::default()
    };
    let config = load(&options).unwrap();
    assert_eq!(config.providers["op"].type_name, "1password");
    let secret = &config.secrets["CLOUDFLARE_API_TOKEN"];
    assert_eq!(secret.provider.as_deref(), Some("op"));
    assert_eq!(secret.value.as_deref(), Some("Cloudflare/api token"));
    let groups = config.leases["cf"].table["policies"][0]["permission_groups"]
        .as_array()
        .unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1]["name"].as_str(), Some("DNS Read"));
}
