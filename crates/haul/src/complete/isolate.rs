//! Writing a flush so that one outcome the database refuses cannot harm its batch-mates: a
//! refused statement is split in halves until the refused outcome stands alone; that one is
//! then recorded as a failed attempt whose error says why its own outcome could not be stored.
//! An ordinary flush costs one statement; only a refused one costs more.

use super::plan::{Planned, refused, to_batch};
use super::{Completer, Unwritten};
use crate::execute::Attempt;
use crate::job::JobState;
use std::future::Future;
use std::pin::Pin;

type Applied = Option<Vec<(i64, JobState)>>;

impl Completer {
    /// Writes the planned rows of `attempts`; `None` if the database stayed away. A plan
    /// replaced by its stand-in failure is replaced in `plans` too, so its event tells the truth.
    pub(super) fn write<'a>(
        &'a self,
        attempts: &'a [Attempt],
        plans: &'a mut [Planned],
    ) -> Pin<Box<dyn Future<Output = Applied> + Send + 'a>> {
        Box::pin(async move {
            let why = match self.write_batch(&to_batch(attempts, plans)).await {
                Ok(applied) => return Some(applied),
                Err(Unwritten::GaveUp) => return None,
                Err(Unwritten::Refused(e)) => e,
            };
            let writes = plans.iter().filter(|p| p.write).count();
            if writes <= 1 {
                return self.stand_in(attempts, plans, &why.to_string()).await;
            }
            let mid = attempts.len() / 2;
            let (left_plans, right_plans) = plans.split_at_mut(mid);
            let left = self.write(&attempts[..mid], left_plans).await?;
            let right = self.write(&attempts[mid..], right_plans).await?;
            Some(left.into_iter().chain(right).collect())
        })
    }

    /// Records the one refused outcome in `attempts` as a failed attempt saying `why`.
    async fn stand_in(&self, attempts: &[Attempt], plans: &mut [Planned], why: &str) -> Applied {
        let Some(i) = plans.iter().position(|p| p.write) else { return Some(Vec::new()) };
        let a = &attempts[i];
        tracing::error!(job_id = a.info.id, error = %why, "the database refused this attempt's outcome; recording it as a failure");
        plans[i] = refused(a, &plans[i], why);
        match self.write_batch(&to_batch(&attempts[i..=i], &plans[i..=i])).await {
            Ok(applied) => Some(applied),
            Err(Unwritten::GaveUp) => None,
            Err(Unwritten::Refused(e)) => {
                tracing::error!(job_id = a.info.id, error = %e, "the stand-in failure was refused too; the rescuer will retry the job when its lease expires");
                Some(Vec::new())
            }
        }
    }
}
