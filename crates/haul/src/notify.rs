//! Stage 2, notify: one LISTEN connection per process hears the queues that inserts and the
//! scheduler announce (waking those queues' producers) and the requests sent to workers
//! (`cancel:<id>`). After every (re)connect it wakes every producer, so a notification lost
//! while away costs one poll, never a job. A silent connection is checked with a query under
//! a timeout, so a half-open socket is noticed and replaced.

use crate::execute::KillReason;
use crate::service::{Backoff, Throttle};
use crate::worker::Core;
use sqlx::Executor;
use sqlx::postgres::{PgListener, PgNotification, PgPoolOptions};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Listens until `stop` fires, reconnecting with backoff whenever the connection drops.
pub(crate) async fn run_listener(core: Arc<Core>, stop: CancellationToken) {
    let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
    while !stop.is_cancelled() {
        let mut listener = match listen(&core).await {
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
}

/// A listener on a single connection of its own (a fresh one-connection pool each time, so a
/// dead socket from before cannot hold the slot): the worker uses at most its pool + 1.
async fn listen(core: &Core) -> sqlx::Result<PgListener> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(core.config.statement_timeout)
        .connect_lazy_with((*core.db.pool().connect_options()).clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    let channels = [core.db.insert_channel(), core.db.control_channel()];
    let listen = listener.listen_all(channels.iter().map(String::as_str));
    tokio::time::timeout(core.config.statement_timeout, listen).await.map_err(|_| timed_out())??;
    Ok(listener)
}

/// Relays notifications until `stop` or an error; checks the connection after each silence.
async fn relay(core: &Core, listener: &mut PgListener, stop: &CancellationToken) -> sqlx::Result<()> {
    let control = core.db.control_channel();
    loop {
        let silence = tokio::time::sleep(core.config.listener_check_interval);
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            msg = listener.try_recv() => match msg? {
                Some(n) if n.channel() == control => on_control(core, &n),
                Some(n) => core.wake(n.payload()),
                // the connection dropped and was re-established: catch up on what was missed
                None => core.wake_all(),
            },
            () = silence => check(core, listener).await?,
        }
    }
}

async fn check(core: &Core, listener: &mut PgListener) -> sqlx::Result<()> {
    let ping = (&mut *listener).execute("SELECT 1");
    tokio::time::timeout(core.config.statement_timeout, ping).await.map_err(|_| timed_out())?.map(drop)
}

fn on_control(core: &Core, n: &PgNotification) {
    if let Some(id) = n.payload().strip_prefix("cancel:").and_then(|id| id.parse().ok())
        && core.running.kill(id, KillReason::Cancelled)
    {
        tracing::info!(job_id = id, "cancellation requested; stopping its handler");
    }
}

fn timed_out() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "listener did not answer in time"))
}
