//! A worker's rollups not yet written: outcome counts and run time and queue wait histograms
//! per queue and kind, added to after each completion statement commits (one lock per flush,
//! no allocation but a new queue and kind's first entry), and taken whole by the rollup writer,
//! which adds them to the current minute's rows in one statement.

use super::Counted;
use super::histogram::{BUCKETS, bucket};
use crate::db::RollupBatch;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One committed attempt, as the rollups count it.
pub(crate) struct Sample<'a> {
    pub queue: &'a Arc<str>,
    pub kind: &'a Arc<str>,
    pub counted: Counted,
    pub run_time: Duration,
    pub queue_wait: Duration,
}

/// The rollups of one queue and kind since the last write.
#[derive(Debug)]
pub(crate) struct Pending {
    queue: Arc<str>,
    kind: Arc<str>,
    /// Completed, retried, snoozed, cancelled, discarded.
    counts: [i64; 5],
    run_time: Box<[i64; BUCKETS]>,
    queue_wait: Box<[i64; BUCKETS]>,
}

impl Pending {
    fn new(queue: &Arc<str>, kind: &Arc<str>) -> Self {
        let (queue, kind) = (queue.clone(), kind.clone());
        Pending {
            queue,
            kind,
            counts: [0; 5],
            run_time: Box::new([0; BUCKETS]),
            queue_wait: Box::new([0; BUCKETS]),
        }
    }

    fn is(&self, queue: &Arc<str>, kind: &Arc<str>) -> bool {
        (Arc::ptr_eq(&self.queue, queue) || self.queue == *queue)
            && (Arc::ptr_eq(&self.kind, kind) || self.kind == *kind)
    }

    fn add(&mut self, s: &Sample<'_>) {
        self.counts[slot(s.counted)] += 1;
        self.run_time[bucket(s.run_time)] += 1;
        self.queue_wait[bucket(s.queue_wait)] += 1;
    }

    fn merge(&mut self, other: &Pending) {
        add_into(&mut self.counts, &other.counts);
        add_into(&mut self.run_time[..], &other.run_time[..]);
        add_into(&mut self.queue_wait[..], &other.queue_wait[..]);
    }
}

fn add_into(to: &mut [i64], from: &[i64]) {
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

fn slot(c: Counted) -> usize {
    match c {
        Counted::Completed => 0,
        Counted::Retried => 1,
        Counted::Snoozed => 2,
        Counted::Cancelled => 3,
        Counted::Discarded => 4,
    }
}

/// A worker's pending rollups. A worker runs few queues and kinds, so they are a short list.
#[derive(Debug, Default)]
pub(crate) struct Rollups {
    pending: Mutex<Vec<Pending>>,
}

impl Rollups {
    /// Counts committed attempts (one lock for all of them).
    pub(crate) fn record<'a>(&self, samples: impl Iterator<Item = Sample<'a>>) {
        let mut pending = self.pending.lock().expect("rollups lock");
        let mut last = 0;
        for s in samples {
            if !pending.get(last).is_some_and(|p| p.is(s.queue, s.kind)) {
                last = entry(&mut pending, s.queue, s.kind);
            }
            pending[last].add(&s);
        }
    }

    /// Takes every pending rollup, leaving none.
    pub(crate) fn take(&self) -> Vec<Pending> {
        std::mem::take(&mut *self.pending.lock().expect("rollups lock"))
    }

    /// Puts back rollups that could not be written, adding them to what came since.
    pub(crate) fn restore(&self, back: Vec<Pending>) {
        let mut pending = self.pending.lock().expect("rollups lock");
        for p in back {
            let i = entry(&mut pending, &p.queue, &p.kind);
            pending[i].merge(&p);
        }
    }
}

/// The index of `queue` and `kind`'s entry, created if missing.
fn entry(pending: &mut Vec<Pending>, queue: &Arc<str>, kind: &Arc<str>) -> usize {
    if let Some(i) = pending.iter().position(|p| p.is(queue, kind)) {
        return i;
    }
    pending.push(Pending::new(queue, kind));
    pending.len() - 1
}

/// `pending` as the columns of one upsert, sorted by queue and kind.
pub(crate) fn to_batch(pending: &mut [Pending]) -> RollupBatch {
    pending.sort_unstable_by(|a, b| (&a.queue, &a.kind).cmp(&(&b.queue, &b.kind)));
    let mut b = RollupBatch { buckets: BUCKETS as i32, ..RollupBatch::default() };
    for p in pending.iter() {
        b.queues.push(p.queue.to_string());
        b.kinds.push(p.kind.to_string());
        let [completed, retried, snoozed, cancelled, discarded] = p.counts;
        b.completed.push(completed);
        b.retried.push(retried);
        b.snoozed.push(snoozed);
        b.cancelled.push(cancelled);
        b.discarded.push(discarded);
        b.run_time.extend_from_slice(&p.run_time[..]);
        b.queue_wait.extend_from_slice(&p.queue_wait[..]);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(q: &'a Arc<str>, k: &'a Arc<str>, counted: Counted, ms: u64) -> Sample<'a> {
        let run_time = Duration::from_millis(ms);
        Sample { queue: q, kind: k, counted, run_time, queue_wait: Duration::from_millis(1) }
    }

    #[test]
    fn samples_add_up_per_queue_and_kind_and_restored_ones_merge() {
        let (a, b, k): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "k".into());
        let r = Rollups::default();
        let same_name: Arc<str> = "a".into();
        r.record(
            [
                sample(&a, &k, Counted::Completed, 5),
                sample(&b, &k, Counted::Retried, 5),
                sample(&same_name, &k, Counted::Completed, 20),
            ]
            .into_iter(),
        );
        let taken = r.take();
        assert!(r.take().is_empty(), "taken whole");
        r.record([sample(&a, &k, Counted::Discarded, 5)].into_iter());
        r.restore(taken);
        let mut pending = r.take();
        let batch = to_batch(&mut pending);
        assert_eq!(batch.queues, ["a", "b"]);
        assert_eq!((batch.completed, batch.retried, batch.discarded), (vec![2, 0], vec![0, 1], vec![1, 0]));
        assert_eq!(batch.run_time.len(), 2 * BUCKETS);
        assert_eq!(batch.run_time[..BUCKETS].iter().sum::<i64>(), 3);
        assert_eq!(batch.run_time[bucket(Duration::from_millis(20))], 1);
    }
}
