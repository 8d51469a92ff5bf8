//! Tests that read the server-wide xmin horizon (the leader's vacuums and compaction): a test
//! binary of their own, so the other integration tests' transactions, which hold that horizon
//! too, never run beside them (cargo runs test binaries one after another).

#[path = "../it/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../it/jobs.rs"]
#[allow(dead_code)]
mod jobs;

mod vacuum;
