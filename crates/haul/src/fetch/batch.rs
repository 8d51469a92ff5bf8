//! One claim statement for many queues: a worker with several queues sends its producers' plain
//! claims here, and a few claimers (`fetch_concurrency` of them) each take the claims waiting
//! and run them as one statement (`job_get_available_many`), each queue getting at most what
//! its claim asked for. Claims are thus bound by statements per second only when all queues
//! together are, not per queue: with 100 queues one statement claims for all of them.
//!
//! Every queue gets the same service, so none falls behind while others drain:
//! - a statement takes one claim per queue; a queue's other claims wait for the next
//!   statement, so its producers claim in turn and its jobs keep coming while the last
//!   claim's jobs run;
//! - statements start evenly spaced ([`Pace`]): an idle claimer does not run the first claim
//!   to arrive on its own while the others wait in a long statement;
//! - a claim takes, when its statement starts, the queue's slots freed since it was sent, up
//!   to its most (the producers' share of the queue's slots);
//! - the queues of a statement get their jobs in a random order, so none keeps starting first.
//!
//! A statement with one queue is the one-queue claim. Paused and limited queues never get
//! here: their producers do not ask, and a limited queue's claim has its own transaction.

use super::QueueHandle;
use crate::db::{ClaimKey, ClaimedJob, Db, QueueClaim};
use crate::error::Error;
use crate::service::Throttle;
use crate::stats::WorkerStats;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most producers' claims one statement takes.
const CLAIMS_PER_STATEMENT_MAX: usize = 1024;

/// The longest a claim waits for its statement's turn (see [`Pace`]): a slow statement (a
/// lock wait, a stalled server) must not hold the next ones back for long.
const PACE_MAX: Duration = Duration::from_millis(50);

/// What a claim gets back: its jobs, or the statement's error (shared by every claim in it).
pub(crate) type Reply = Result<Vec<ClaimedJob>, Arc<Error>>;

/// A producer's claim, waiting for a statement.
struct Request {
    q: Arc<QueueHandle>,
    /// The queue's slots reserved for the claim so far.
    want: usize,
    /// The most the claim may reserve.
    max: usize,
    after: Option<ClaimKey>,
    /// The claim's reserved slots and what it got.
    reply: oneshot::Sender<(usize, Reply)>,
}

/// The claims waiting for a statement, and the claimers that run them.
pub(crate) struct ClaimBatch {
    tx: mpsc::UnboundedSender<Request>,
    inbox: Mutex<Inbox>,
    /// Fired once every claimer has stopped: a claim still waiting then gets no jobs.
    closed: CancellationToken,
    pace: std::sync::Mutex<Pace>,
}

/// The claims not yet in a statement: those sent, and those held back for the next one.
struct Inbox {
    rx: mpsc::UnboundedReceiver<Request>,
    held: VecDeque<Request>,
}

/// When the next statement may start: the claimers' statements are spread evenly over the
/// time one takes, each starting at least `longest / claimers` after the one before, where
/// `longest` is the longest of the claimers' last statements. An
/// idle claimer would otherwise take the first claim to arrive on its own while another
/// claimer's statement runs: that queue's claims then come back in a millisecond and it asks
/// again at once, served alone again and again while the queues in the big statement wait
/// for it, and runs at several times their rate.
#[derive(Default)]
struct Pace {
    last_start: Option<Instant>,
    /// Each claimer's statement running since, and how long its last one took.
    claimers: Vec<(Option<Instant>, Duration)>,
}

impl Pace {
    fn due(&self) -> Option<Instant> {
        let longest = self.claimers.iter().map(|c| c.1).max().unwrap_or_default();
        let n = u32::try_from(self.claimers.len().max(1)).unwrap_or(u32::MAX);
        self.last_start.map(|t| t + (longest / n).min(PACE_MAX))
    }

    fn start(&mut self, claimer: usize, now: Instant) {
        self.last_start = Some(now);
        if let Some(c) = self.claimers.get_mut(claimer) {
            c.0 = Some(now);
        }
    }

    fn end(&mut self, claimer: usize, now: Instant) {
        if let Some(c) = self.claimers.get_mut(claimer) {
            c.1 = c.0.take().map_or(c.1, |t| now.saturating_duration_since(t));
        }
    }
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
        let pace = std::sync::Mutex::default();
        let inbox = Mutex::new(Inbox { rx, held: VecDeque::new() });
        ClaimBatch { tx, inbox, closed: CancellationToken::new(), pace }
    }
}

impl ClaimBatch {
    /// Claims jobs of `q` into `want` reserved slots, after `after` or from its start, in the
    /// next statement. When the statement starts, the claim reserves more of the queue's
    /// slots freed meanwhile, up to `max`: `want` is then the slots it holds. No jobs once
    /// the claimers have stopped.
    pub(crate) async fn claim(
        &self,
        q: Arc<QueueHandle>,
        want: &mut usize,
        max: usize,
        after: Option<ClaimKey>,
    ) -> Reply {
        let (reply, rx) = oneshot::channel();
        let request = Request { q, want: *want, max, after, reply };
        if self.closed.is_cancelled() || self.tx.send(request).is_err() {
            return Ok(Vec::new());
        }
        let (reserved, reply) = tokio::select! {
            biased; // a reply sent before the claimers stopped is taken
            r = rx => r.unwrap_or_else(|_| (*want, Ok(Vec::new()))),
            () = self.closed.cancelled() => (*want, Ok(Vec::new())),
        };
        *want = reserved;
        reply
    }

    /// Runs `n` claimers until `stop` fires; each finishes the statement it is running.
    pub(crate) async fn run(self: Arc<Self>, claimer: Claimer, n: usize, stop: CancellationToken) {
        let claimer = Arc::new(claimer);
        self.pace().claimers = vec![(None, Duration::ZERO); n.max(1)];
        let mut set = JoinSet::new();
        for i in 0..n.max(1) {
            set.spawn(self.clone().claim_loop(i, claimer.clone(), stop.clone()));
        }
        while set.join_next().await.is_some() {}
        self.closed.cancel();
    }

    async fn claim_loop(self: Arc<Self>, i: usize, claimer: Arc<Claimer>, stop: CancellationToken) {
        let mut throttle = Throttle::default();
        while let Some(requests) = self.next(i, &stop).await {
            claimer.serve(requests, &mut throttle).await;
            self.pace().end(i, Instant::now());
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for claimer `i`'s next statement's turn (see [`Pace`]), unless `stop` fires.
    async fn turn(&self, i: usize, stop: &CancellationToken) {
        let due = self.pace().due();
        if let Some(due) = due {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = stop.cancelled() => {}
            }
        }
        self.pace().start(i, Instant::now());
    }

    /// The claims waiting at the statement's turn, one per queue (at least one, waiting for
    /// it), or `None` once `stop` fires.
    async fn next(&self, i: usize, stop: &CancellationToken) -> Option<Vec<Request>> {
        let mut inbox = self.inbox.lock().await;
        if inbox.held.is_empty() {
            let first = tokio::select! {
                biased;
                () = stop.cancelled() => return None,
                r = inbox.rx.recv() => r?,
            };
            inbox.held.push_back(first);
        }
        self.turn(i, stop).await;
        while let Ok(r) = inbox.rx.try_recv() {
            inbox.held.push_back(r);
        }
        let mut taken = one_per_queue(&mut inbox.held);
        for r in &mut taken {
            r.want += r.q.reserve(r.max.saturating_sub(r.want));
        }
        Some(taken)
    }
}

/// Takes from `held`, in order, the first claim of each queue (at most
/// [`CLAIMS_PER_STATEMENT_MAX`]); a queue's other claims stay for the next statement. A
/// queue's producers thus claim in turn, one statement each, and keep the queue's jobs
/// coming while the last claim's jobs run; in one statement together they would all wait
/// for the same statement, and for its jobs to finish, before claiming again.
fn one_per_queue(held: &mut VecDeque<Request>) -> Vec<Request> {
    let mut queues = HashSet::new();
    let (mut taken, mut left) = (Vec::new(), VecDeque::new());
    for r in held.drain(..) {
        if taken.len() < CLAIMS_PER_STATEMENT_MAX && queues.insert(r.q.name.clone()) {
            taken.push(r);
        } else {
            left.push_back(r);
        }
    }
    *held = left;
    taken
}

/// A queue's claim in a statement.
struct Part {
    claim: QueueClaim,
    request: Request,
}

impl Claimer {
    /// Runs `requests` as one statement and hands each its jobs.
    async fn serve(&self, requests: Vec<Request>, throttle: &mut Throttle) {
        let parts: Vec<Part> = requests.into_iter().map(Part::new).collect();
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
                    let r = part.request; // its producer waits for the reply
                    let _ = r.reply.send((r.want, Ok(jobs)));
                }
            }
            Err(e) => {
                throttle.warn(|| tracing::warn!(error = %e, "claim of many queues failed"));
                let e = Arc::new(e);
                for p in parts {
                    let _ = p.request.reply.send((p.request.want, Err(e.clone())));
                }
            }
        }
    }

    /// The jobs of each part, in one statement: the one-queue claim for one part.
    async fn claim(&self, parts: &[Part]) -> crate::Result<Vec<Vec<ClaimedJob>>> {
        let (lease, worker) = (self.lease_ms, &*self.worker_id);
        if let [one] = parts {
            let c = &one.claim;
            return Ok(vec![
                self.db.job_get_available(&c.queue, c.limit, lease, worker, c.after, None).await?,
            ]);
        }
        let claims: Vec<QueueClaim> = parts.iter().map(|p| p.claim.clone()).collect();
        self.db.job_get_available_many(&claims, lease, worker).await
    }
}

impl Part {
    fn new(request: Request) -> Part {
        let r = &request;
        let claim = QueueClaim { queue: r.q.name.clone(), limit: r.want as i64, after: r.after };
        Part { claim, request }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    fn queue(name: &str, concurrency: usize) -> Arc<QueueHandle> {
        let (paused, limited) = (watch::channel(Default::default()).1, watch::channel(Default::default()).1);
        Arc::new(QueueHandle::new(name.into(), concurrency, Default::default(), paused, limited))
    }

    fn request(queue: &str, want: usize) -> Request {
        let (reply, _) = oneshot::channel();
        Request { q: super::tests::queue(queue, 10), want, max: 10, after: None, reply }
    }

    fn queues(requests: &[Request]) -> Vec<(&str, usize)> {
        requests.iter().map(|r| (&*r.q.name, r.want)).collect()
    }

    #[test]
    fn a_statement_takes_one_claim_per_queue_and_leaves_the_others_in_order() {
        let mut held: VecDeque<Request> =
            [("q1", 1), ("q2", 2), ("q1", 3), ("q3", 4), ("q1", 5)].map(|(q, n)| request(q, n)).into();
        assert_eq!(queues(&one_per_queue(&mut held)), [("q1", 1), ("q2", 2), ("q3", 4)]);
        assert_eq!(queues(&one_per_queue(&mut held)), [("q1", 3)]);
        assert_eq!(queues(&one_per_queue(&mut held)), [("q1", 5)]);
        assert!(one_per_queue(&mut held).is_empty() && held.is_empty());
    }

    #[tokio::test]
    async fn a_claim_takes_the_slots_freed_before_its_statement_up_to_its_most() {
        let batch = ClaimBatch::default();
        let q = queue("q", 30);
        assert_eq!(q.reserve(7), 7);
        let mut want = 7;
        let claim = batch.claim(q.clone(), &mut want, 15, None);
        let statement = async {
            let taken = batch.next(0, &CancellationToken::new()).await.unwrap();
            assert_eq!(queues(&taken), [("q", 15)], "8 more of the 23 free slots");
            for r in taken {
                let _ = r.reply.send((r.want, Ok(Vec::new())));
            }
        };
        let (jobs, ()) = tokio::join!(claim, statement);
        assert!(jobs.unwrap().is_empty());
        assert_eq!((want, q.free()), (15, 15), "the producer learns of the slots it holds");
    }

    #[test]
    fn statements_start_apart_by_the_longest_last_one_over_the_claimers() {
        let t0 = Instant::now();
        let mut pace = Pace { last_start: None, claimers: vec![(None, Duration::ZERO); 2] };
        assert_eq!(pace.due(), None, "the first statement starts at once");
        pace.start(0, t0);
        pace.end(0, t0 + Duration::from_millis(40));
        pace.start(1, t0 + Duration::from_millis(20));
        pace.end(1, t0 + Duration::from_millis(22));
        assert_eq!(pace.due(), Some(t0 + Duration::from_millis(40)), "20 ms after the last start");
        pace.claimers[0].1 = Duration::from_secs(10);
        assert_eq!(pace.due(), Some(t0 + Duration::from_millis(20) + PACE_MAX), "at most PACE_MAX");
    }
}
