//! When and how long to wait before sending a request again.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not worth it (4xx).
    No,
    /// The request was not processed; send it again (after this delay).
    Safe(Option<Duration>),
    /// It may have been processed; only idempotent requests are sent again
    /// as they are.
    AmbiguousAfter(Option<Duration>),
    /// Same, no delay asked for.
    Ambiguous,
}

impl Retry {
    pub(crate) fn with_delay(self, delay: Option<Duration>) -> Self {
        match self {
            Self::Ambiguous => Self::AmbiguousAfter(delay),
            other => other,
        }
    }

    pub(crate) fn delay(self) -> Option<Duration> {
        match self {
            Self::Safe(d) | Self::AmbiguousAfter(d) => d,
            _ => None,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all (first included).
    pub attempts: u32,
    /// The first backoff; doubled each time.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; asked to wait longer, sesame gives up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before try number `attempt + 1` (full jitter on
    /// exponential backoff, or `Retry-After` plus a little jitter).
    pub(crate) fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        if let Some(asked) = asked {
            return asked + Duration::from_millis(fastrand::u64(0..100));
        }
        let exp = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Between half and all of the exponential delay.
        exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
    }
}
