//! [`RunCache`]: answers that one run of sesame computes once and shares
//! between its backends, such as what a remote service says about a parent
//! credential several leases mint from.
//!
//! Core knows no backend: a backend picks its own key and value types, and
//! entries of different types never meet (the map is keyed by both types as
//! well as by the key). Concurrent callers of one key wait for the first
//! one's answer instead of asking again, which is what makes leases that are
//! minted concurrently share a request. A value may be a `Result`: an error
//! is then shared too, as the concurrent callers would all have met it.
//!
//! Nothing outlives the run: the cache lives in the [`crate::BackendContext`]
//! and is dropped with it, so a revoked or changed credential is never
//! answered from an earlier run.
//!
//! A backend may also keep a [`RunResource`] here: something it starts once
//! and shares for the run, such as a helper process. Whoever owns the run
//! stops them all with [`RunCache::stop`] when the remote work is done
//! ([`crate::leasing::RunLeases`] does after acquiring, so no helper runs
//! beside, or is inherited by, the command).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::SecretValue;

/// Something a backend starts once and shares for the rest of a run (a
/// helper process, say), stopped by [`RunCache::stop`].
#[async_trait::async_trait]
pub trait RunResource: Send + Sync {
    /// Stops it cleanly and waits until it has stopped. Called by every
    /// [`RunCache::stop`]: doing nothing when already stopped. A resource
    /// that is needed again afterwards may start again.
    async fn stop(&self);
}

/// Per-run, typed, keyed answers shared by every backend of a run.
#[derive(Default)]
pub struct RunCache {
    /// `(key type, value type)` to a `HashMap<K, Arc<OnceCell<V>>>`.
    maps: Mutex<HashMap<(TypeId, TypeId), Box<dyn Any + Send + Sync>>>,
    /// What [`RunCache::stop`] stops.
    resources: Mutex<Vec<Arc<dyn RunResource>>>,
}

impl RunCache {
    /// The value for `key`: computed by `init` the first time it is asked
    /// for in this run, and a clone of that answer every later time. While
    /// `init` runs, other callers with the same key wait for it. If the
    /// caller running `init` is cancelled, the next waiter runs its own.
    pub async fn get_or_init<K, V, F, Fut>(&self, key: K, init: F) -> V
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
            let map = maps
                .entry((TypeId::of::<K>(), TypeId::of::<V>()))
                .or_insert_with(|| Box::new(HashMap::<K, Arc<OnceCell<V>>>::new()))
                .downcast_mut::<HashMap<K, Arc<OnceCell<V>>>>()
                .expect("the map of a (key, value) type pair holds that pair");
            map.entry(key).or_default().clone()
        };
        cell.get_or_init(init).await.clone()
    }

    /// Keeps `resource` to be stopped by [`RunCache::stop`]. Register it
    /// once, where it is first made (e.g. inside [`RunCache::get_or_init`]).
    pub fn keep(&self, resource: Arc<dyn RunResource>) {
        self.resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(resource);
    }

    /// Stops every resource kept so far, concurrently, and waits for them.
    /// They stay registered: stopping again is harmless.
    pub async fn stop(&self) {
        let resources = self.resources.lock().unwrap_or_else(PoisonError::into_inner).clone();
        futures_util::future::join_all(resources.iter().map(|r| r.stop())).await;
    }

    /// How many answers are held, of every type (for tests and `Debug`).
    pub fn len(&self) -> usize {
        let maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        maps.len()
    }

    /// True when no type of answer has been asked for yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RunCache {
    /// Keys may be derived from credentials: show neither keys nor values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunCache")
            .field("types", &self.len())
            .finish_non_exhaustive()
    }
}

/// A credential's SHA-256, for keying cached answers by the credential they
/// were obtained with without keeping another copy of it. Its `Debug`
/// shows nothing of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `value`.
    pub fn of(value: &SecretValue) -> Self {
        Self(Sha256::digest(value.expose().as_bytes()).into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_computation() {
        let cache = RunCache::default();
        let calls = AtomicUsize::new(0);
        let ask = |key: &'static str| {
            let (cache, calls) = (&cache, &calls);
            async move {
                cache
                    .get_or_init(key.to_string(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        format!("answer for {key}")
                    })
                    .await
            }
        };
        let answers = futures_util::future::join_all([ask("a"), ask("a"), ask("b"), ask("a")]).await;
        assert_eq!(
            answers,
            ["answer for a", "answer for a", "answer for b", "answer for a"]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one computation per distinct key");
    }

    #[tokio::test]
    async fn types_keep_entries_apart_and_errors_are_shared() {
        let cache = RunCache::default();
        let number: u32 = cache.get_or_init("k".to_string(), || async { 7 }).await;
        let text: String = cache
            .get_or_init("k".to_string(), || async { "seven".to_string() })
            .await;
        assert_eq!((number, text.as_str()), (7, "seven"));
        let first: Result<u8, String> = cache.get_or_init(1u8, || async { Err("denied".to_string()) }).await;
        let second: Result<u8, String> = cache.get_or_init(1u8, || async { Ok(1) }).await;
        assert_eq!(first, second, "the answer, error or not, is the first one");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn fingerprints_tell_values_apart_and_show_nothing() {
        let (a, b) = (SecretValue::new("parent-a"), SecretValue::new("parent-b"));
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&a.clone()));
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
        assert_eq!(format!("{:?}", Fingerprint::of(&a)), "Fingerprint(<redacted>)");
        let cache = RunCache::default();
        assert!(!format!("{cache:?}").contains("parent"));
    }

    /// Counts its stops.
    #[derive(Default)]
    struct Helper(AtomicUsize);

    #[async_trait::async_trait]
    impl RunResource for Helper {
        async fn stop(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn kept_resources_are_stopped_each_time_the_run_stops_them() {
        let cache = RunCache::default();
        cache.stop().await;
        let helper: Arc<Helper> = cache
            .get_or_init("helper", || async {
                let helper = Arc::new(Helper::default());
                cache.keep(helper.clone());
                helper
            })
            .await;
        let again: Arc<Helper> = cache.get_or_init("helper", || async { Arc::default() }).await;
        assert!(Arc::ptr_eq(&helper, &again), "one resource per key and run");
        assert_eq!(helper.0.load(Ordering::SeqCst), 0);
        cache.stop().await;
        cache.stop().await;
        assert_eq!(helper.0.load(Ordering::SeqCst), 2);
    }
}
