//! A fan-out: a [`Batch`] of child jobs inserted with their batch row in one statement, under
//! a cap on the children, with an optional callback job inserted once every child has
//! finished (by `db::job::flow`, which settles batches).

use super::{IntoNewJob, NewJob, build_batch};
use crate::db::InsertBatch;
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// Child jobs inserted together, with an optional callback job that runs once, after every
/// child has finished (completed, discarded or cancelled), and receives the counts
/// ([`JobContext::batch_result`](crate::JobContext::batch_result)).
///
/// Insert it with [`Client::insert_batch`](crate::Client::insert_batch), inside your own
/// transaction with [`Client::insert_batch_tx`](crate::Client::insert_batch_tx), or from a
/// handler with [`JobContext::fan_out`](crate::JobContext::fan_out). A batch holds 1 to
/// [`ClientConfig::with_fan_out_max`](crate::ClientConfig::with_fan_out_max) children; past
/// that it is refused whole ([`Error::FanOutTooLarge`]) and nothing is inserted.
///
/// ```
/// let resize = |n: u32| haul::NewJob::raw("resize", serde_json::json!({ "image": n }));
/// let batch = haul::Batch::new((0..10).map(resize))
///     .with_callback(haul::NewJob::raw("album_ready", serde_json::json!({ "album": 7 })));
/// assert_eq!(batch.len(), 10);
/// ```
#[derive(Debug)]
pub struct Batch {
    children: Vec<NewJob>,
    callback: Option<NewJob>,
    parent: Option<i64>,
}

impl Batch {
    /// A batch of these children, without a callback.
    pub fn new<I>(children: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let children = children.into_iter().map(IntoNewJob::into_new_job).collect();
        Batch { children, callback: None, parent: None }
    }

    /// The job inserted once every child has finished. Its metadata then holds the counts
    /// under `haul:batch_result`. A delay counts from that moment; a `run_at` is refused.
    pub fn with_callback(mut self, job: impl IntoNewJob) -> Self {
        self.callback = Some(job.into_new_job());
        self
    }

    /// Records `id` as the job that fanned out (shown with the batch).
    pub(crate) fn with_parent(mut self, id: i64) -> Self {
        self.parent = Some(id);
        self
    }

    /// Children in the batch.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether it has no children (such a batch is refused at insert).
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

/// A batch as inserted: its id and its children's ids, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InsertedBatch {
    /// The batch's id ([`Client::batch`](crate::Client::batch) reports its progress).
    pub id: i64,
    /// The children's ids, in the order given.
    pub children: Vec<i64>,
}

/// A batch ready for its statement.
pub(crate) struct FanOut {
    pub children: InsertBatch,
    pub parent: Option<i64>,
    /// The callback's row as JSON, stored on the batch until it finishes.
    pub callback: Option<String>,
}

/// Validates `batch` (size, every child, the callback), before any SQL.
pub(crate) fn build_fan_out(batch: Batch, max_children: usize, max_payload: usize) -> Result<FanOut> {
    let n = batch.children.len();
    if n == 0 {
        return Err(Error::invalid_option("batch", "a batch needs at least one child"));
    }
    if n > max_children {
        return Err(Error::FanOutTooLarge { children: n, max: max_children });
    }
    if let Some(j) =
        batch.children.iter().chain(&batch.callback).find(|j| j.unique.is_some() || j.unique_key.is_some())
    {
        return Err(Error::invalid_option(&j.kind, "batch children and callbacks cannot be unique jobs"));
    }
    let not_object = |j: &&NewJob| j.metadata.as_deref().is_some_and(|m| !m.trim_start().starts_with('{'));
    if let Some(j) = batch.children.iter().chain(&batch.callback).find(not_object) {
        return Err(Error::invalid_option(&j.kind, "in a batch, a job's metadata must be a JSON object"));
    }
    let children = build_batch(batch.children, max_payload)?;
    let callback = batch.callback.map(|c| callback_row(c, max_payload)).transpose()?;
    Ok(FanOut { children, parent: batch.parent, callback })
}

/// The callback as the JSON row `BATCH_SETTLE` inserts from.
fn callback_row(job: NewJob, max_payload: usize) -> Result<String> {
    if job.run_at.is_some() {
        let reason = "a batch callback runs when its batch finishes: give it a delay, not a run_at";
        return Err(Error::invalid_option(&job.kind, reason));
    }
    Ok(job_row(job, max_payload)?.to_string())
}

/// A job inserted later, by a settling statement, as the JSON row it inserts from; checked now.
pub(super) fn job_row(job: NewJob, max_payload: usize) -> Result<Value> {
    let b = build_batch(vec![job], max_payload)?;
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let tags: Vec<&str> = b.tags[0].as_deref().map(|t| t.split(',').collect()).unwrap_or_default();
    let row = json!({
        "kind": b.kinds[0], "queue": b.queues[0], "args": parse(&b.args[0]),
        "priority": b.priorities[0], "max_attempts": b.max_attempts[0],
        "timeout_ms": b.timeouts_ms[0], "delay_us": b.delays_us[0],
        "metadata": b.metadata[0].as_deref().map(parse), "tags": tags,
    });
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(n: u32) -> NewJob {
        NewJob::raw("child", json!({ "n": n }))
    }

    #[test]
    fn over_the_cap_is_refused_whole() {
        let err = build_fan_out(Batch::new((0..11).map(child)), 10, 1024).err().unwrap();
        assert!(matches!(err, Error::FanOutTooLarge { children: 11, max: 10 }), "{err}");
        assert!(err.to_string().contains("with_fan_out_max"));
        assert!(build_fan_out(Batch::new((0..10).map(child)), 10, 1024).is_ok());
    }

    #[test]
    fn empty_unique_and_scheduled_callbacks_are_refused() {
        assert!(build_fan_out(Batch::new(Vec::<NewJob>::new()), 10, 1024).is_err());
        let unique = Batch::new([child(1).with_unique_key("k")]);
        assert!(build_fan_out(unique, 10, 1024).is_err());
        let listed = Batch::new([child(1).with_metadata(json!([1]))]);
        assert!(build_fan_out(listed, 10, 1024).is_err());
        let at = chrono::Utc::now();
        let scheduled = Batch::new([child(1)]).with_callback(child(2).with_run_at(at));
        assert!(build_fan_out(scheduled, 10, 1024).is_err());
    }

    #[test]
    fn the_callback_row_keeps_its_options() {
        let cb = child(2).with_queue("q").with_priority(3).with_tags(["a", "b"]);
        let out = build_fan_out(Batch::new([child(1)]).with_callback(cb), 10, 1024).unwrap();
        let row: Value = serde_json::from_str(&out.callback.unwrap()).unwrap();
        assert_eq!(row["queue"], "q");
        assert_eq!(row["priority"], 3);
        assert_eq!(row["tags"], json!(["a", "b"]));
        assert_eq!(row["args"], json!({ "n": 2 }));
    }
}
