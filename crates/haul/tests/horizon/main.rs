//! Tests that read or hold the server-wide xmin horizon (the leader's vacuums, compaction and
//! rotation): a test binary of their own, so the other integration tests' transactions, which
//! hold that horizon too, never run beside them (cargo runs test binaries one after another),
//! and one test at a time ([`alone`]), so one test's held snapshot never stalls another's vacuum.

#[path = "../it/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../it/jobs.rs"]
#[allow(dead_code)]
mod jobs;

mod rotation;
mod vacuum;

/// Held for a whole test: the tests of this binary run one at a time.
async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}
