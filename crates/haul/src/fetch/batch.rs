//! One claim statement for many queues: a worker with several queues sends its producers' plain
//! claims here, and a few claimers (`fetch_concurrency` of them) each take every claim waiting
//! and run them as one statement (`job_get_available_many`), each queue getting at most what
//! its producers asked for. Claims are thus bound by statements per second only when all queues
//! together are, not per queue: with 100 queues one statement claims for all of them. Claims of
//! one queue waiting together are merged: the sum of their counts, from the earliest of their
//! keys, the jobs then handed out in fetch order. The queues of a statement get their jobs in a
//! random order, so none keeps being served first. A statement with one queue is the one-queue
//! claim. Paused and limited queues never get here: their producers do not ask, and a limited
//! queue's claim has its own transaction.

use crate::db::{ClaimKey, ClaimedJob, Db, QueueClaim};
use crate::error::Error;
use crate::service::Throttle;
use crate::stats::WorkerStats;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most producers' claims one statement takes.
const CLAIMS_PER_STATEMENT_MAX: usize = 1024;

/// What a claim gets back: its jobs, or the statement's error (shared by every claim in it).
pub(crate) type Reply = Result<Vec<ClaimedJob>, Arc<Error>>;

/// A producer's claim, waiting for a statement.
struct Request {
    queue: Arc<str>,
    want: usize,
    after: Option<ClaimKey>,
    reply: oneshot::Sender<Reply>,
}

/// The claims waiting for a statement, and the claimers that run them.
pub(crate) struct ClaimBatch {
    tx: mpsc::UnboundedSender<Request>,
    rx: Mutex<mpsc::UnboundedReceiver<Request>>,
    /// Fired once every claimer has stopped: a claim still waiting then gets no jobs.
    closed: CancellationToken,
}

/// What the claimers use to run a statement.
pub(crate) struct Claimer {
    pub db: Db,
    pub worker_id: Arc<str>,
    pub lease_ms: i64,
    pub stats: Arc<WorkerStats>,
}

impl Default for ClaimBatch {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ClaimBatch { tx, rx: Mutex::new(rx), closed: CancellationToken::new() }
    }
}

impl ClaimBatch {
    /// Claims up to `want` jobs of `queue`, after `after` or from its start, in the next
    /// statement. No jobs once the claimers have stopped.
    pub(crate) async fn claim(&self, queue: Arc<str>, want: usize, after: Option<ClaimKey>) -> Reply {
        let (reply, rx) = oneshot::channel();
        if self.closed.is_cancelled() || self.tx.send(Request { queue, want, after, reply }).is_err() {
            return Ok(Vec::new());
        }
        tokio::select! {
            biased; // a reply sent before the claimers stopped is taken
            r = rx => r.unwrap_or_else(|_| Ok(Vec::new())),
            () = self.closed.cancelled() => Ok(Vec::new()),
        }
    }

    /// Runs `n` claimers until `stop` fires; each finishes the statement it is running.
    pub(crate) async fn run(self: Arc<Self>, claimer: Claimer, n: usize, stop: CancellationToken) {
        let claimer = Arc::new(claimer);
        let mut set = JoinSet::new();
        for _ in 0..n.max(1) {
            set.spawn(self.clone().claim_loop(claimer.clone(), stop.clone()));
        }
        while set.join_next().await.is_some() {}
        self.closed.cancel();
    }

    async fn claim_loop(self: Arc<Self>, claimer: Arc<Claimer>, stop: CancellationToken) {
        let mut throttle = Throttle::default();
        while let Some(requests) = self.next(&stop).await {
            claimer.serve(requests, &mut throttle).await;
        }
    }

    /// Every claim waiting (at least one, waiting for it), or `None` once `stop` fires.
    async fn next(&self, stop: &CancellationToken) -> Option<Vec<Request>> {
        let mut rx = self.rx.lock().await;
        let first = tokio::select! {
            biased;
            () = stop.cancelled() => return None,
            r = rx.recv() => r?,
        };
        let mut requests = vec![first];
        while requests.len() < CLAIMS_PER_STATEMENT_MAX {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        Some(requests)
    }
}

/// The claims of one queue in a statement.
struct Part {
    claim: QueueClaim,
    requests: Vec<Request>,
}

impl Claimer {
    /// Runs `requests` as one statement and hands each its jobs.
    async fn serve(&self, requests: Vec<Request>, throttle: &mut Throttle) {
        let parts = merge(requests);
        let started = Instant::now();
        let claimed = self.claim(&parts).await;
        let n = claimed.as_ref().map_or(0, |c| c.iter().map(Vec::len).sum());
        self.stats.record_fetch(started.elapsed(), n);
        match claimed {
            Ok(jobs) => {
                // in a random order: the queues handed their jobs first start them first, and
                // a fixed order would let the same queues finish first and ask first each time
                let mut replies: Vec<_> = parts.into_iter().zip(jobs).collect();
                fastrand::shuffle(&mut replies);
                for (part, jobs) in replies {
                    hand_out(part.requests, jobs);
                }
            }
            Err(e) => {
                throttle.warn(|| tracing::warn!(error = %e, "claim of many queues failed"));
                let e = Arc::new(e);
                for r in parts.into_iter().flat_map(|p| p.requests) {
                    let _ = r.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// The jobs of each part, in one statement: the one-queue claim for one part.
    async fn claim(&self, parts: &[Part]) -> crate::Result<Vec<Vec<ClaimedJob>>> {
        let (lease, worker) = (self.lease_ms, &*self.worker_id);
        if let [one] = parts {
            let c = &one.claim;
            return Ok(vec![self.db.job_get_available(&c.queue, c.limit, lease, worker, c.after).await?]);
        }
        let claims: Vec<QueueClaim> = parts.iter().map(|p| p.claim.clone()).collect();
        self.db.job_get_available_many(&claims, lease, worker).await
    }
}

/// Groups `requests` by queue, in the order each queue first asked: each group wants the sum
/// of its counts, after the earliest of its keys (from the start if any claims from there).
fn merge(requests: Vec<Request>) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for r in requests {
        match parts.iter_mut().find(|p| p.claim.queue == r.queue) {
            Some(p) => {
                p.claim.limit += r.want as i64;
                p.claim.after = p.claim.after.zip(r.after).map(|(a, b)| a.min(b));
                p.requests.push(r);
            }
            None => {
                let claim = QueueClaim { queue: r.queue.clone(), limit: r.want as i64, after: r.after };
                parts.push(Part { claim, requests: vec![r] });
            }
        }
    }
    parts
}

/// Hands `jobs` out to `requests` in fetch order, each up to what it asked for (the producers
/// wait for their replies, so each is taken).
fn hand_out(requests: Vec<Request>, mut jobs: Vec<ClaimedJob>) {
    jobs.sort_unstable_by_key(ClaimedJob::key);
    let mut jobs = jobs.into_iter();
    for r in requests {
        let mine: Vec<ClaimedJob> = jobs.by_ref().take(r.want).collect();
        let _ = r.reply.send(Ok(mine));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::JsonText;
    use chrono::{DateTime, Utc};

    fn key(id: i64) -> ClaimKey {
        ClaimKey { priority: 0, run_at: DateTime::UNIX_EPOCH, id }
    }

    fn request(queue: &str, want: usize, after: Option<i64>) -> (Request, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        (Request { queue: queue.into(), want, after: after.map(key), reply }, rx)
    }

    fn job(id: i64) -> ClaimedJob {
        let t: DateTime<Utc> = DateTime::UNIX_EPOCH;
        let (args, metadata) = (JsonText::default(), JsonText::default());
        ClaimedJob {
            id,
            kind: "k".into(),
            args,
            attempt: 1,
            max_attempts: 3,
            priority: 0,
            timeout_ms: None,
            metadata,
            created_at: t,
            run_at: t,
            claimed_at: t,
        }
    }

    #[test]
    fn claims_of_one_queue_merge_into_the_sum_from_the_earliest_key() {
        let (r1, _a) = request("q1", 3, Some(5));
        let (r2, _b) = request("q2", 1, None);
        let (r3, _c) = request("q1", 2, Some(3));
        let (r4, _d) = request("q2", 4, Some(9));
        let parts = merge(vec![r1, r2, r3, r4]);
        let got: Vec<_> = parts.iter().map(|p| (&*p.claim.queue, p.claim.limit, p.claim.after)).collect();
        assert_eq!(got, [("q1", 5, Some(key(3))), ("q2", 5, None)], "from the start if one asks so");
        assert_eq!(parts[0].requests.len(), 2);
    }

    #[test]
    fn jobs_are_handed_out_in_fetch_order_each_claim_up_to_its_count() {
        let (r1, mut first) = request("q", 2, None);
        let (r2, mut second) = request("q", 3, None);
        hand_out(vec![r1, r2], [7, 3, 9, 5].map(job).into());
        let ids = |rx: &mut oneshot::Receiver<Reply>| -> Vec<i64> {
            rx.try_recv().unwrap().unwrap().iter().map(|j| j.id).collect()
        };
        assert_eq!(ids(&mut first), [3, 5]);
        assert_eq!(ids(&mut second), [7, 9]);
    }
}
