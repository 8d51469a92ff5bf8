//! Stage 6, maintenance: the services that run only on the elected leader: the scheduler
//! (due jobs become available), the rescuer (expired leases), the cleaner (old final rows),
//! the vacuumer (dead row versions), the rotator (the
//! jobs table's slots, emptied by TRUNCATE), the periodic enqueuer (each schedule's due ticks), the
//! queue gauges when asked for, the batch settler (fan-outs finished off the completer's
//! path), and the relay of operators' cancels to the hooks. The elector
//! publishes leadership on a `watch`; each service runs in its own task gated on it ([`gate`]),
//! so a slow round never delays the leader's lease renewal. Every statement is batched and bounded; a service repeats while its
//! batch came back full.

mod cancels;
mod cleaner;
mod elector;
mod gate;
mod gauges;
mod periodic;
mod rescuer;
mod rotator;
mod scheduler;
mod settler;
mod vacuumer;

pub(crate) use cancels::Cancels;
pub(crate) use cleaner::Cleaner;
pub(crate) use elector::{Elector, Lead};
pub(crate) use gate::Round;
pub(crate) use gauges::Gauges;
pub(crate) use periodic::{Enqueuer, MakeJob, PeriodicJob};
pub(crate) use rescuer::Rescuer;
pub(crate) use rotator::Rotator;
pub(crate) use scheduler::Scheduler;
pub(crate) use settler::Settler;
pub(crate) use vacuumer::{State as VacuumState, Vacuumer};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Rounds a service runs back to back while its batches come back full.
const ROUNDS_MAX: usize = 10;

/// The maintenance services of one worker, built and ready to run.
pub(crate) struct Maintenance {
    pub elector: Elector,
    pub scheduler: Scheduler,
    pub rescuer: Rescuer,
    pub cleaner: Cleaner,
    pub settler: Settler,
    pub vacuumer: Vacuumer,
    pub rotator: Rotator,
    /// Only when the worker has periodic schedules.
    pub periodic: Option<Enqueuer>,
    /// Only when the worker sets the queue gauges.
    pub gauges: Option<Gauges>,
    /// Only when the worker has hooks.
    pub cancels: Option<Cancels>,
}

impl Maintenance {
    /// Spawns the elector and each service in a task of its own; all stop when `stop` fires
    /// (the elector then resigns).
    pub(crate) fn spawn(self, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let (lead, follow) = watch::channel(Lead::default());
        let mut tasks = vec![
            tokio::spawn(self.elector.run(lead, stop.clone())),
            tokio::spawn(gate::run(self.scheduler, follow.clone(), stop.clone())),
            tokio::spawn(gate::run(self.rescuer, follow.clone(), stop.clone())),
            tokio::spawn(gate::run(self.cleaner, follow.clone(), stop.clone())),
            tokio::spawn(gate::run(self.settler, follow.clone(), stop.clone())),
            tokio::spawn(gate::run(self.vacuumer, follow.clone(), stop.clone())),
            tokio::spawn(gate::run(self.rotator, follow.clone(), stop.clone())),
        ];
        if let Some(gauges) = self.gauges {
            tasks.push(tokio::spawn(gate::run(gauges, follow.clone(), stop.clone())));
        }
        if let Some(periodic) = self.periodic {
            tasks.push(tokio::spawn(gate::run(periodic, follow.clone(), stop.clone())));
        }
        if let Some(cancels) = self.cancels {
            tasks.push(tokio::spawn(cancels.run(follow, stop.clone())));
        }
        tasks
    }
}
