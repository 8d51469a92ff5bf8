//! Stage 2, notify: one LISTEN connection per process hears the queues that inserts and the
//! scheduler announce, and wakes those queues' producers. After every (re)connect it wakes
//! them all, so a notification lost while away costs one poll, never a job.

use crate::service::{Backoff, Throttle};
use crate::worker::Core;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Listens until `stop` fires, reconnecting with backoff whenever the connection drops.
pub(crate) async fn run_listener(core: Arc<Core>, stop: CancellationToken) {
    let channel = core.db.insert_channel();
    // its own single connection: the worker uses at most pool size + 1 connections
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*core.db.pool().connect_options()).clone());
    let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
    while !stop.is_cancelled() {
        let mut listener = match listen(&pool, &channel).await {
            Ok(l) => l,
            Err(e) => {
                throttle.warn(|| tracing::warn!(error = %e, "LISTEN failed; polling until it is back"));
                tokio::select! { () = backoff.wait() => {}, () = stop.cancelled() => {} }
                continue;
            }
        };
        backoff.reset();
        core.wake_all();
        if let Err(e) = relay(&core, &mut listener, &stop).await {
            throttle.warn(|| tracing::warn!(error = %e, "listener connection lost; reconnecting"));
        }
    }
    pool.close().await;
}

async fn listen(pool: &sqlx::PgPool, channel: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Wakes the producer named by each notification, until `stop` or an error.
async fn relay(core: &Core, listener: &mut PgListener, stop: &CancellationToken) -> sqlx::Result<()> {
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            msg = listener.try_recv() => match msg? {
                Some(n) => core.wake(n.payload()),
                // the connection dropped and was re-established: catch up on what was missed
                None => core.wake_all(),
            }
        }
    }
}
