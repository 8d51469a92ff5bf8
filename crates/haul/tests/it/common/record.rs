//! A hook that records every call, optionally reading the job's row from the database inside
//! the call (on a connection of its own), which shows what had committed when the hook ran.

use super::{WAIT, database_url};
use haul::{Hook, Transition};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// One hook call.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: &'static str,
    pub job: Transition,
    pub retry_in: Option<Duration>,
    /// The row's state as another connection read it during the call (`None`: no row).
    pub state: Option<String>,
    /// The row's attempt, read with `state`.
    pub attempt: Option<i16>,
}

/// Records hook calls; with a schema, reads each job's committed state during the call.
pub struct Recorder {
    seen: Mutex<Vec<Seen>>,
    count: watch::Sender<usize>,
    probe: Option<String>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder { seen: Mutex::default(), count: watch::Sender::new(0), probe: None }
    }

    /// Also reads the row's state in `schema` during each call.
    pub fn probing(schema: &str) -> Self {
        Recorder { probe: Some(schema.to_owned()), ..Self::new() }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The calls of `method` for job `id`.
    pub fn calls(&self, id: i64, method: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.job.id == id && s.method == method).collect()
    }

    /// Waits until `pred` holds of the calls so far, failing the test after [`WAIT`].
    pub async fn until(&self, what: &str, pred: impl Fn(&[Seen]) -> bool) {
        let mut rx = self.count.subscribe();
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                if pred(&self.seen.lock().unwrap()) {
                    return;
                }
                rx.changed().await.expect("recorder alive");
            }
        });
        if waited.await.is_err() {
            panic!("timed out waiting for hooks: {what}; saw {:#?}", self.seen());
        }
    }

    fn push(&self, method: &'static str, job: &Transition, retry_in: Option<Duration>) {
        let row = self.probe.as_deref().and_then(|schema| read_state(schema, job.id));
        let (state, attempt) = row.map_or((None, None), |(s, a)| (Some(s), Some(a)));
        self.seen.lock().unwrap().push(Seen { method, job: job.clone(), retry_in, state, attempt });
        self.count.send_modify(|n| *n += 1);
    }
}

/// The committed state and attempt of job `id`, read on a thread and connection of their own.
fn read_state(schema: &str, id: i64) -> Option<(String, i16)> {
    let sql = format!("SELECT state::text, attempt::smallint FROM \"{schema}\".jobs WHERE id = $1");
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&database_url()).await.expect("probe connects");
                let q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id);
                q.fetch_optional(&mut c).await.expect("probe reads")
            })
        })
        .join()
        .unwrap()
    })
}

impl Hook for Recorder {
    fn on_started(&self, job: &Transition) {
        self.push("started", job, None);
    }
    fn on_completed(&self, job: &Transition) {
        self.push("completed", job, None);
    }
    fn on_failed(&self, job: &Transition, retry_in: Option<Duration>) {
        self.push("failed", job, retry_in);
    }
    fn on_snoozed(&self, job: &Transition, delay: Duration) {
        self.push("snoozed", job, Some(delay));
    }
    fn on_cancelled(&self, job: &Transition) {
        self.push("cancelled", job, None);
    }
    fn on_discarded(&self, job: &Transition) {
        self.push("discarded", job, None);
    }
}
