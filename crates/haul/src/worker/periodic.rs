//! The periodic schedules registered on a worker, checked at build: each schedule valid, each
//! name once, each job passing the insert checks (a bad job fails the build, not a tick).

use crate::error::{Error, Result};
use crate::insert::build_batch;
use crate::maintenance::{MakeJob, PeriodicJob};
use crate::periodic::{Periodic, tick_key};

/// Resolves each schedule's name and checks everything; the first problem fails the build.
pub(super) fn check(registered: Vec<(Periodic, MakeJob)>, max_payload: usize) -> Result<Vec<PeriodicJob>> {
    let mut jobs: Vec<PeriodicJob> = Vec::with_capacity(registered.len());
    for (periodic, make) in registered {
        let sample = make();
        let name = periodic.name_for(sample.kind());
        periodic.validate(&name)?;
        if jobs.iter().any(|j| j.name == name) {
            return Err(Error::InvalidWorker(format!(
                "periodic schedule `{name}` is registered twice; give one another name with Periodic::named"
            )));
        }
        let key = tick_key(&name, chrono::DateTime::UNIX_EPOCH);
        build_batch(vec![sample.with_unique_key(key)], max_payload)?;
        jobs.push(PeriodicJob { periodic, name, make });
    }
    Ok(jobs)
}
