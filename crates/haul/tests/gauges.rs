//! The queue gauges a leader sets (`WorkerConfig::with_gauges_every`), read through a
//! recorder installed for this test binary alone: right names, labels and values on a
//! seeded schema.

#[allow(dead_code)]
#[path = "it/common/mod.rs"]
mod common;

use common::{TestDb, WAIT, fast_config, start};
use haul::Worker;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::time::Duration;

/// Every gauge in one snapshot (a snapshot reads each gauge and resets it), by name and
/// sorted labels.
type Gauges = Vec<(String, Vec<(String, String)>, f64)>;

fn gauges(snap: &Snapshotter) -> Gauges {
    let all = snap.snapshot().into_vec().into_iter();
    all.filter_map(|(key, _, _, value)| {
        let DebugValue::Gauge(v) = value else { return None };
        let key = key.key();
        let mut labels: Vec<_> = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
        labels.sort();
        Some((key.name().to_owned(), labels, v.0))
    })
    .collect()
}

fn value(g: &Gauges, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> =
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    want.sort();
    g.iter().find(|(n, l, _)| n == name && *l == want).map(|(_, _, v)| *v)
}

/// Whether `g` holds the seeded schema's gauges.
fn right(g: &Gauges) -> bool {
    let depth = |state| value(g, "haul_queue_depth", &[("queue", "mail"), ("state", state)]);
    let oldest = value(g, "haul_queue_oldest_available_seconds", &[("queue", "mail")]);
    depth("available") == Some(2.0)
        && depth("running") == Some(0.0)
        && depth("discarded") == Some(1.0)
        && value(g, "haul_dead_letter_jobs", &[("queue", "mail")]) == Some(1.0)
        && oldest.is_some_and(|s| (30.0..60.0).contains(&s))
}

#[tokio::test]
async fn the_leader_sets_depth_oldest_available_and_dead_letter_gauges() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    recorder.install().expect("the only recorder of this binary");
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT 'available', 'k', 'mail', '{}', 5, now() - interval '30 seconds', NULL FROM generate_series(1, 2);
         INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         VALUES ('discarded', 'k', 'mail', '{}', 5, now(), now());",
    )
    .await;
    let config = fast_config().with_gauges_every(Duration::from_millis(50));
    // the worker runs another queue: the seeded jobs stay as they are
    let w = start(Worker::builder(db.client.clone(), ()).queue("idle", 1).config(config).build().unwrap());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let g = gauges(&snap);
        if right(&g) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the gauges never read right; last: {g:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.stop().await;
}
