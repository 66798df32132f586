//! One batch of references through `op`: the plain ones with one
//! `op inject`, the others (and, when `op inject` fails for a reason that
//! is not the same for every call, its references too) item by item.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sesame_core::{BackendContext, BackendError, SecretSource, SecretValue};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cli::{find_op, Batch, Injected, OpCli};
use crate::credential;
use crate::item::{Item, Missing};
use crate::reference::Reference;

/// How long, and how many at once: the bounds of one batch's calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long one call may take.
    pub timeout: Duration,
    /// No call runs past this.
    pub deadline: Instant,
    /// How many calls run at once.
    pub concurrency: usize,
}

/// One item to fetch: a vault and an item title or ID, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ItemKey {
    pub vault: String,
    pub item: String,
}

impl ItemKey {
    /// The item a reference is in.
    fn of(reference: &Reference) -> Self {
        Self {
            vault: reference.vault.clone(),
            item: reference.item.clone(),
        }
    }
}

/// The distinct items of `references` in order of appearance, and for each
/// reference the index of its item.
pub(crate) fn group<'r>(references: impl IntoIterator<Item = &'r Reference>) -> (Vec<ItemKey>, Vec<usize>) {
    let mut keys: Vec<ItemKey> = Vec::new();
    let mut index: HashMap<ItemKey, usize> = HashMap::new();
    let groups = references
        .into_iter()
        .map(|r| {
            *index.entry(ItemKey::of(r)).or_insert_with_key(|key| {
                keys.push(key.clone());
                keys.len() - 1
            })
        })
        .collect();
    (keys, groups)
}

/// Resolves every reference with `op`: the plain ones (see
/// [`Reference::is_plain`]) with one `op inject`, the others with one
/// `op item get` per item, side by side. If `op inject` fails for any
/// reason but one that concerns every call alike (not signed in, ...),
/// its references are read item by item, so each secret gets its own
/// precise error: at most 1 + items processes.
pub(crate) async fn resolve_cli(
    ctx: &BackendContext,
    settings: &OpCli,
    token: &Option<SecretSource>,
    limits: Limits,
    references: &[&Reference],
) -> Vec<Result<SecretValue, BackendError>> {
    let all = |e: BackendError| references.iter().map(|_| Err(e.clone())).collect::<Vec<_>>();
    let op = match find_op(settings.op_path.as_deref(), &ctx.env) {
        Ok(op) => op,
        Err(e) => return all(e),
    };
    let token = match token {
        None => None,
        Some(source) => match credential(ctx, source, "token", "service-account token") {
            Ok(token) => Some(token),
            Err(e) => return all(e),
        },
    };
    let batch = Batch {
        op,
        settings,
        env: &ctx.env,
        service_account: token.is_some() || ctx.env.is_set("OP_SERVICE_ACCOUNT_TOKEN"),
        token,
        timeout: limits.timeout,
        deadline: limits.deadline,
        limit: Arc::new(Semaphore::new(limits.concurrency)),
    };

    let (plain, odd): (Vec<usize>, Vec<usize>) = (0..references.len()).partition(|&i| references[i].is_plain());
    let injected: Vec<&Reference> = plain.iter().map(|&i| references[i]).collect();
    let (odd_keys, _) = group(odd.iter().map(|&i| references[i]));
    let (injected, odd_items) = tokio::join!(
        async {
            if injected.is_empty() {
                Injected::Values(Vec::new())
            } else {
                batch.inject(&injected).await
            }
        },
        futures_util::future::join_all(odd_keys.iter().map(|key| batch.item(key)))
    );
    let mut items: HashMap<ItemKey, Result<Item, BackendError>> = odd_keys.into_iter().zip(odd_items).collect();
    let mut results: Vec<Option<Result<SecretValue, BackendError>>> = references.iter().map(|_| None).collect();
    match injected {
        Injected::Values(values) => {
            for (&i, value) in plain.iter().zip(values) {
                results[i] = Some(Ok(value));
            }
        }
        Injected::Failed(e) => {
            for &i in &plain {
                results[i] = Some(Err(e.clone()));
            }
        }
        Injected::Fallback(reason) => {
            let (keys, _) = group(plain.iter().map(|&i| references[i]));
            let missing: Vec<ItemKey> = keys.into_iter().filter(|k| !items.contains_key(k)).collect();
            tracing::debug!(%reason, items = missing.len(), "op inject failed; reading item by item");
            let fetched = futures_util::future::join_all(missing.iter().map(|key| batch.item(key))).await;
            items.extend(missing.into_iter().zip(fetched));
        }
    }
    references
        .iter()
        .zip(results)
        .map(|(reference, result)| {
            result.unwrap_or_else(|| match &items[&ItemKey::of(reference)] {
                Ok(item) => field_value(item, reference),
                Err(e) => Err(e.clone()),
            })
        })
        .collect()
}

/// `` `a`, `b` `` (at most 40 names).
fn list(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(40).map(|n| format!("`{n}`")).collect();
    if names.len() > 40 {
        shown.push(format!("and {} more", names.len() - 40));
    }
    shown.join(", ")
}

/// The value of the field `reference` names in `item`.
pub(crate) fn field_value(item: &Item, reference: &Reference) -> Result<SecretValue, BackendError> {
    let (vault, name) = (&reference.vault, &reference.item);
    match item.find_field(reference.section.as_deref(), &reference.field) {
        Ok(field) => Ok(field.value()),
        Err(Missing::Section(sections)) => Err(BackendError::not_found(format!(
            "item `{name}` in vault `{vault}` has no section `{}`; {}",
            reference.section.as_deref().unwrap_or_default(),
            if sections.is_empty() {
                "it has no sections".to_string()
            } else {
                format!("its sections: {}", list(&sections))
            }
        ))),
        Err(Missing::Field(fields)) => Err(BackendError::not_found(format!(
            "item `{name}` in vault `{vault}` has no field `{}`{}; {}",
            reference.field,
            reference
                .section
                .as_deref()
                .map(|s| format!(" in section `{s}`"))
                .unwrap_or_default(),
            if fields.is_empty() {
                "it has no fields".to_string()
            } else {
                format!("its fields: {}", list(&fields))
            }
        ))),
    }
}
