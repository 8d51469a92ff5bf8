//! Writes the worker's stats rollups: every flush interval, and once more at shutdown after
//! the completer has drained, every pending queue and kind in one statement. A write the
//! database refuses keeps its rollups for the next one.

use crate::db::Db;
use crate::service::Throttle;
use crate::stats::{Rollups, to_batch};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The rollup writer.
pub(super) struct RollupWriter {
    pub db: Db,
    pub rollups: Arc<Rollups>,
    pub interval: Duration,
}

impl RollupWriter {
    /// Writes every interval until `stop` fires, then once more.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut throttle = Throttle::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
            self.write(&mut throttle).await;
        }
        self.write(&mut throttle).await;
    }

    async fn write(&self, throttle: &mut Throttle) {
        let mut pending = self.rollups.take();
        if pending.is_empty() {
            return;
        }
        if let Err(e) = self.db.stats_upsert_many(&to_batch(&mut pending)).await {
            throttle.warn(
                || tracing::warn!(error = %e, "writing the stats rollups failed; kept for the next write"),
            );
            self.rollups.restore(pending);
        }
    }
}
