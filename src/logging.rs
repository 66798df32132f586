//! [`Lazy`]: a log subscriber that builds the real one on first use.
//!
//! Without `-v` or `SESAME_LOG`, sesame shows only warnings and errors, and
//! most runs have none. Building the `tracing_subscriber` stack (its span
//! registry allocates and fills tens of KiB) would be paid by every run, so
//! at that level sesame installs this wrapper: it answers "is this enabled"
//! from a plain level, and builds the real subscriber (the same one `-v`
//! gets, with the same writer) only when an enabled event or span arrives.

use std::any::TypeId;
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Metadata};

/// A subscriber enabled up to `max`, built by `make` on first use.
pub struct Lazy<S, F> {
    max: LevelFilter,
    make: F,
    inner: OnceLock<S>,
}

impl<S, F> Lazy<S, F>
where
    S: Subscriber + Send + Sync,
    F: Fn() -> S + Send + Sync + 'static,
{
    /// Enabled for events and spans at `max` or more severe; `make` must
    /// build a subscriber that filters at `max` too.
    pub fn new(max: LevelFilter, make: F) -> Self {
        Self {
            max,
            make,
            inner: OnceLock::new(),
        }
    }

    fn inner(&self) -> &S {
        self.inner.get_or_init(&self.make)
    }
}

impl<S, F> Subscriber for Lazy<S, F>
where
    S: Subscriber + Send + Sync + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.max >= *metadata.level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let inner = self.inner();
        // Asked first, as the dispatcher would have: filters keep per-event
        // state from `enabled` (the inner one has the same level as ours).
        inner.enabled(span.metadata());
        inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner().record(span, values)
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner().record_follows_from(span, follows)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        // `enabled` first, as the dispatcher would have asked it (see
        // `new_span`).
        let inner = self.inner();
        inner.enabled(event.metadata()) && inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        self.inner().event(event)
    }

    fn enter(&self, span: &Id) {
        self.inner().enter(span)
    }

    fn exit(&self, span: &Id) {
        self.inner().exit(span)
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner().try_close(id)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        match self.inner.get() {
            Some(inner) => inner.current_span(),
            None => tracing_core::span::Current::none(),
        }
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded as is; the inner subscriber lives as long as self.
        self.inner.get().and_then(|inner| unsafe { inner.downcast_raw(id) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Counts events; enabled for everything.
    struct Counter(Arc<AtomicUsize>);

    impl Subscriber for Counter {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn builds_the_subscriber_only_for_an_enabled_event() {
        let (built, events) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let subscriber = {
            let (built, events) = (built.clone(), events.clone());
            Lazy::new(LevelFilter::WARN, move || {
                built.fetch_add(1, Ordering::SeqCst);
                Counter(events.clone())
            })
        };
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not shown at the default level");
            tracing::debug!("nor this");
            assert_eq!(built.load(Ordering::SeqCst), 0, "nothing built for disabled events");
            tracing::warn!("shown");
            tracing::error!("shown too");
        });
        assert_eq!(built.load(Ordering::SeqCst), 1, "built once");
        assert_eq!(events.load(Ordering::SeqCst), 2);
    }
}
