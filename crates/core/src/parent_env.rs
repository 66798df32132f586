//! The command never holds a parent credential a lease consumed.
//!
//! A lease mints a short-lived credential from a powerful one (a Cloudflare
//! token that can edit API tokens). The point is that the command holds
//! only the short-lived one, so before it runs sesame removes from its
//! environment every variable the lease declares as its parent
//! ([`crate::LeaseBackend::parent_credentials`]) and every other variable
//! that holds the same value (a secret that copies it under another name),
//! whatever `env_var` is. A lease output of the same name still goes in.
//! `keep_parent = true` in the lease keeps them.

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::BackendContext;
use crate::config::{BackendSpec, Config, ConfigError};
use crate::leasing::PreparedLease;
use crate::{EnvSnapshot, SecretValue};

/// Removes the core key `keep_parent` from a lease table and returns it.
pub fn take_keep_parent(config: &Config, spec: &mut BackendSpec) -> Result<bool, ConfigError> {
    match spec.table.remove("keep_parent") {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(b),
        Some(other) => Err(ConfigError::at(
            config.locate(&spec.origin, &["keep_parent".into()]),
            format!(
                "`keep_parent` in {} must be true or false, not {}",
                spec.origin.table_name(),
                other.type_str()
            ),
            None,
        )),
    }
}

/// The parent credentials the prepared leases consume: `(variable, lease,
/// value)` for each one that has a value, leaving out leases with
/// `keep_parent = true`.
pub fn consumed(leases: &[PreparedLease], ctx: &BackendContext) -> Vec<(String, String, SecretValue)> {
    let mut out = Vec::new();
    for lease in leases.iter().filter(|l| !l.keep_parent) {
        for name in lease.backend.parent_credentials() {
            let value = ctx
                .secrets
                .get(&name)
                .cloned()
                .or_else(|| ctx.env.secret(&name))
                .unwrap_or_default();
            out.push((name, lease.name.clone(), value));
        }
    }
    out
}

/// What to take out of the command's environment: removes from `env` (the
/// variables sesame sets) those that hold a consumed parent credential and
/// are not a lease's output, and returns the inherited variables to unset,
/// each with the lease that consumed it, for the `-v` log.
pub fn strip(
    consumed: &[(String, String, SecretValue)],
    env: &mut BTreeMap<String, SecretValue>,
    lease_outputs: &BTreeSet<String>,
    inherited: &EnvSnapshot,
) -> BTreeMap<String, String> {
    if consumed.is_empty() {
        return BTreeMap::new();
    }
    let values: Vec<(&str, &str)> = consumed
        .iter()
        .filter(|(_, _, v)| !v.is_empty())
        .map(|(_, lease, v)| (v.expose(), lease.as_str()))
        .collect();
    let parent_of = |value: &str| values.iter().find(|(v, _)| *v == value).map(|(_, l)| l.to_string());
    let mut removed = BTreeMap::new();
    env.retain(|name, value| {
        if lease_outputs.contains(name) {
            return true;
        }
        match parent_of(value.expose()) {
            Some(lease) => {
                removed.insert(name.clone(), lease);
                false
            }
            None => true,
        }
    });
    for (name, lease, _) in consumed {
        if !env.contains_key(name) {
            removed.insert(name.clone(), lease.clone());
        }
    }
    for (name, value) in inherited.iter() {
        if env.contains_key(name) || removed.contains_key(name) {
            continue;
        }
        if let Some(lease) = parent_of(value) {
            removed.insert(name.to_string(), lease);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_and_copies_go_child_token_stays() {
        let consumed = vec![
            (
                "CLOUDFLARE_API_TOKEN".to_string(),
                "cf".to_string(),
                SecretValue::new("parent-token-value"),
            ),
            ("CF_API_TOKEN".to_string(), "cf".to_string(), SecretValue::default()),
        ];
        let mut env: BTreeMap<String, SecretValue> = [
            ("CF_TOKEN".to_string(), SecretValue::new("child-token-value")),
            ("COPY".to_string(), SecretValue::new("parent-token-value")),
            ("OTHER".to_string(), SecretValue::new("unrelated")),
        ]
        .into();
        let inherited = EnvSnapshot::from_pairs([("ALIAS", "parent-token-value"), ("HOME", "/home/me")]);
        let outputs = ["CF_TOKEN".to_string()].into();
        let removed = strip(&consumed, &mut env, &outputs, &inherited);
        assert_eq!(
            removed.keys().collect::<Vec<_>>(),
            ["ALIAS", "CF_API_TOKEN", "CLOUDFLARE_API_TOKEN", "COPY"]
        );
        assert!(env.contains_key("CF_TOKEN") && env.contains_key("OTHER") && !env.contains_key("COPY"));
    }
}
