//! Crash injection for tests of crash safety.
//!
//! `SESAME_FAILPOINT=after-mint` makes sesame abort right after a backend
//! minted a lease and before anything else happens, exactly what a crash or
//! `kill -9` at that moment would do. Tests use it to prove the ledger
//! already knows the lease. Unset, it costs one environment lookup.

/// Aborts the process if `SESAME_FAILPOINT` names this point.
pub fn hit(point: &str) {
    if std::env::var_os("SESAME_FAILPOINT").is_some_and(|v| v == point) {
        eprintln!("sesame: failpoint `{point}` hit, aborting");
        std::process::abort();
    }
}
