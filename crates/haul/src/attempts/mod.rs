//! What several stages share about the attempts this worker holds, below every stage: the
//! running-attempt registry with each attempt's kill switch, and lease arithmetic.

mod running;

pub(crate) use running::{Kill, KillReason, Running};

use std::time::Duration;

/// A lease length as the whole milliseconds the statements take (saturating).
pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}
