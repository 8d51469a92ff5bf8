//! `haul::testing` used as an application's tests would use it: only the public API, with the
//! `testing` feature on (the crate's dev-dependency on itself turns it on).

mod drain;
mod enqueued;
mod perform;

use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The message `fut` panics with; fails the test if it does not panic.
pub async fn panic_message(fut: impl Future) -> String {
    use futures_util::FutureExt;
    let payload = AssertUnwindSafe(fut).catch_unwind().await.err().expect("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map(|s| s.to_string()).expect("a text panic"),
    }
}
