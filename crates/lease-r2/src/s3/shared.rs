//! One `sesame-s3` helper per run: every R2 lease that waits for its new
//! credentials, and `sesame r2 verify`'s checks, send their operations
//! through the same process, started on first use.
//!
//! The run owns it through its [`RunCache`](sesame_core::run_cache::RunCache):
//! [`helper`] is the only way this crate starts a helper, and it keeps the
//! helper as a [`RunResource`] so that whoever ends the run's remote work
//! ([`RunLeases`](sesame_core::leasing::RunLeases) after acquiring, `r2
//! verify` after its checks) shuts it down cleanly (closes its pipe, waits
//! for it). Operations still under way when it is stopped are answered
//! first: the helper finishes what it has read before it exits.

use std::sync::Arc;

use sesame_core::run_cache::RunResource;
use sesame_core::{BackendContext, BackendError};

use super::helper::HelperProcess;

/// The run's helper slot: empty until first used, and again once stopped.
#[derive(Default)]
struct SharedHelper {
    running: tokio::sync::Mutex<Option<Arc<HelperProcess>>>,
}

/// The key of the run's [`SharedHelper`] in its cache (one per run).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SharedHelperKey;

#[async_trait::async_trait]
impl RunResource for SharedHelper {
    async fn stop(&self) {
        let running = self.running.lock().await.take();
        if let Some(helper) = running {
            helper.shutdown().await;
        }
    }
}

/// The run's S3 helper, started if it is not running. Must be called inside
/// a Tokio runtime, the one the run's remote work uses (a task of it reads
/// the helper's replies). A helper that cannot start is an error each time
/// it is asked for, with how to fix it.
pub async fn helper(ctx: &BackendContext) -> Result<Arc<HelperProcess>, BackendError> {
    let shared: Arc<SharedHelper> = ctx
        .cache()
        .get_or_init(SharedHelperKey, || async {
            let shared = Arc::new(SharedHelper::default());
            ctx.cache().keep(shared.clone());
            shared
        })
        .await;
    let mut running = shared.running.lock().await;
    if let Some(helper) = running.as_ref() {
        return Ok(helper.clone());
    }
    let helper = Arc::new(HelperProcess::spawn(&ctx.env)?);
    *running = Some(helper.clone());
    Ok(helper)
}

/// Stops the run's helper, if one runs (and whatever else the run keeps).
pub async fn stop(ctx: &BackendContext) {
    ctx.cache().stop().await;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sesame_core::EnvSnapshot;

    use super::super::helper::HELPER_ENV;
    use super::*;

    fn context(helper: &Path) -> BackendContext {
        let env = EnvSnapshot::from_pairs([(HELPER_ENV, helper.to_str().unwrap())]);
        BackendContext::new(Arc::new(env))
    }

    /// Concurrent users share one process; stopping ends it; a later user
    /// starts another.
    #[tokio::test]
    async fn one_helper_per_run_until_it_is_stopped() {
        // `cat` runs until its stdin closes, as the helper does.
        let ctx = context(Path::new("/bin/cat"));
        let (a, b) = tokio::join!(helper(&ctx), helper(&ctx));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b), "one process for concurrent users");
        let other = ctx.with_timeout(std::time::Duration::from_secs(1));
        assert!(
            Arc::ptr_eq(&a, &helper(&other).await.unwrap()),
            "contexts of one run share it"
        );
        let pid = a.id().await.unwrap();
        stop(&ctx).await;
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "stopped and reaped");
        let again = helper(&ctx).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &again), "a new one after a stop");
        stop(&ctx).await;
        assert!(a.id().await.is_none() && again.id().await.is_none());
    }

    #[tokio::test]
    async fn a_helper_that_cannot_start_is_an_error_every_time() {
        let ctx = context(Path::new("/nonexistent/sesame-s3"));
        for _ in 0..2 {
            let err = helper(&ctx).await.unwrap_err();
            assert!(err.to_string().contains("cannot start the S3 helper"), "{err}");
        }
        stop(&ctx).await;
    }
}
