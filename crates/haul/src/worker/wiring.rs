//! Wiring a worker's stages: each is built from the pieces several of them share (the worker's
//! pool, id, running attempts, counters and health marks) plus only the settings it reads.

use super::rollups::RollupWriter;
use crate::attempts::Running;
use crate::complete::{Completer, JobEvent};
use crate::config::WorkerConfig;
use crate::db::Db;
use crate::execute::{Attempt, Executor, Heartbeat};
use crate::fetch::Producer;
use crate::health::Marks;
use crate::hooks::Hooks;
use crate::job::JobState;
use crate::maintenance::{
    Cancels, Cleaner, Elector, Enqueuer, Gauges, Maintenance, PeriodicJob, Rescuer, Rotator, Scheduler,
    Settler, VacuumState, Vacuumer,
};
use crate::notify::CancelledNote;
use crate::service::Throttle;
use crate::stats::{Rollups, WorkerStats};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What several stages share.
pub(super) struct Common {
    /// The worker's own pool, with its statement timeout.
    pub db: Db,
    pub id: Arc<str>,
    pub running: Arc<Running>,
    pub stats: Arc<WorkerStats>,
    /// Stats rollups the completer feeds and the rollup writer writes.
    pub rollups: Arc<Rollups>,
    /// Whether completed rows are kept.
    pub keep: bool,
    /// Where the stages record their turns and the database's answers.
    pub health: Arc<Marks>,
    /// Bumped by the completer after each flush; limited producers wait on it.
    pub flushed: watch::Sender<u64>,
}

impl Common {
    pub(super) fn new(db: Db, id: Arc<str>, cfg: &WorkerConfig) -> Self {
        let keep = !cfg.completed_retention.is_zero();
        let health = Arc::new(Marks::new(!cfg.poll_only));
        let (running, stats, rollups) = (Arc::default(), Arc::default(), Arc::default());
        let flushed = watch::Sender::new(0);
        Common { db, id, running, stats, rollups, keep, health, flushed }
    }

    pub(super) fn producer<S>(
        &self,
        executor: Executor<S>,
        completer: mpsc::Sender<Attempt>,
        cfg: &WorkerConfig,
        queues: usize,
    ) -> Arc<Producer<S>> {
        Arc::new(Producer {
            db: self.db.clone(),
            worker_id: self.id.clone(),
            stats: self.stats.clone(),
            running: self.running.clone(),
            executor: Arc::new(executor),
            completer,
            batch_max: cfg.fetch_batch_max,
            producers: cfg.fetch_concurrency.max(1),
            poll_interval: cfg.fetch_poll_interval,
            cooldown: cfg.fetch_cooldown,
            lease: cfg.lease,
            health: self.health.clone(),
            flushed: self.flushed.subscribe(),
            batch: (queues > 1).then(Arc::default),
        })
    }

    pub(super) fn completer(
        &self,
        events: broadcast::Sender<JobEvent>,
        hooks: Hooks,
        cfg: &WorkerConfig,
    ) -> Arc<Completer> {
        Arc::new(Completer {
            db: self.db.clone(),
            running: self.running.clone(),
            stats: self.stats.clone(),
            rollups: self.rollups.clone(),
            events,
            hooks,
            abandon: CancellationToken::new(),
            batch_max: cfg.complete_batch_max,
            concurrency: cfg.complete_concurrency,
            keep_completed: self.keep,
            flushed: self.flushed.clone(),
        })
    }

    /// The writer of the stats rollups the completer feeds.
    pub(super) fn rollup_writer(&self, cfg: &WorkerConfig) -> RollupWriter {
        RollupWriter {
            db: self.db.clone(),
            rollups: self.rollups.clone(),
            interval: cfg.stats_flush_interval,
        }
    }

    /// The heartbeat, on `beat_db`: the same pool with a deadline under half a lease.
    pub(super) fn heartbeat(&self, beat_db: Db, cfg: &WorkerConfig) -> Heartbeat {
        Heartbeat {
            db: beat_db,
            running: self.running.clone(),
            interval: cfg.heartbeat_interval,
            lease: cfg.lease,
            health: self.health.clone(),
        }
    }

    /// The leader's services; the periodic enqueuer checks as often as the scheduler; the
    /// relay of operators' cancels runs when `cancelled` is given (the worker has hooks).
    pub(super) fn maintenance(
        &self,
        cfg: &WorkerConfig,
        periodic: Vec<PeriodicJob>,
        max_payload: usize,
        hooks: Hooks,
        cancelled: Option<mpsc::UnboundedReceiver<CancelledNote>>,
    ) -> Maintenance {
        let (db, batch) = (&self.db, cfg.maintenance_batch);
        let retention = [
            (JobState::Completed, cfg.completed_retention),
            (JobState::Cancelled, cfg.cancelled_retention),
            (JobState::Discarded, cfg.discarded_retention),
        ];
        let throttle = Throttle::default;
        Maintenance {
            elector: Elector {
                db: db.clone(),
                worker_id: self.id.clone(),
                ttl: cfg.leader_ttl(),
                heartbeat: cfg.heartbeat_interval,
                health: self.health.clone(),
            },
            scheduler: Scheduler {
                db: db.clone(),
                interval: cfg.scheduler_interval,
                batch,
                throttle: throttle(),
            },
            rescuer: Rescuer::new(db.clone(), cfg.rescuer_interval, batch, hooks.clone()),
            cleaner: Cleaner {
                db: db.clone(),
                interval: cfg.cleaner_interval,
                retention,
                stats_retention: cfg.stats_retention,
                batch,
                throttle: throttle(),
            },
            settler: Settler {
                db: db.clone(),
                interval: cfg.scheduler_interval,
                batch,
                after: 0,
                after_job: 0,
                after_saga: 0,
                throttle: throttle(),
            },
            vacuumer: Vacuumer {
                db: db.clone(),
                interval: cfg.vacuum_interval,
                compaction: cfg.compaction,
                state: VacuumState::default(),
                throttle: throttle(),
            },
            rotator: Rotator {
                db: db.clone(),
                interval: cfg.scheduler_interval,
                batch,
                throttle: throttle(),
            },
            gauges: cfg.gauges_every.map(|period| Gauges::new(db.clone(), period)),
            periodic: (!periodic.is_empty()).then(|| Enqueuer {
                db: db.clone(),
                interval: cfg.scheduler_interval,
                jobs: periodic,
                max_payload,
                throttle: throttle(),
            }),
            cancels: cancelled.map(|notes| Cancels { notes, hooks }),
        }
    }
}
