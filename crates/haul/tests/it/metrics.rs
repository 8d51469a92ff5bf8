//! The built-in metrics count a known workload exactly: transitions by outcome, one run time
//! per attempt, one queue wait per start.

use crate::common::{TestDb, fast_config, start};
use crate::hooks::{Fate, Snoozed, fate};
use haul::Worker;
use haul::metrics::{JOB_DURATION_SECONDS, JOB_QUEUE_WAIT_SECONDS, JOBS_TOTAL, Metrics};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::collections::BTreeMap;

#[tokio::test]
async fn metrics_match_a_known_workload() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // a current-thread test: the worker's tasks record on this thread, into this recorder
    let _guard = metrics::set_default_local_recorder(&recorder);
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), Snoozed::default())
        .handler(fate)
        .hook(Metrics::new())
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let hows = ["ok", "ok", "ok", "ok", "fail", "snooze", "cancel", "discard"];
    let ids = db.client.insert_many(hows.iter().map(|h| Fate { how: h.to_string() })).await.unwrap();
    // every job ends: 4 + 1 (after its snooze) complete, the failing one is discarded on its 2nd
    w.collect(10, |e| ids.contains(&e.id)).await;
    w.stop().await;
    let mut totals = BTreeMap::new();
    let (mut durations, mut waits) = (Vec::new(), Vec::new());
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| key.labels().find(|l| l.key() == name).map(|l| l.value().to_owned());
        assert_eq!((label("queue").as_deref(), label("kind").as_deref()), (Some("default"), Some("fate")));
        match (key.name(), value) {
            (JOBS_TOTAL, DebugValue::Counter(n)) => drop(totals.insert(label("outcome").unwrap(), n)),
            (JOB_DURATION_SECONDS, DebugValue::Histogram(v)) => durations = v,
            (JOB_QUEUE_WAIT_SECONDS, DebugValue::Histogram(v)) => waits = v,
            (name, v) => panic!("unexpected metric {name}: {v:?}"),
        }
    }
    let want: BTreeMap<String, u64> =
        [("completed", 5), ("retried", 1), ("snoozed", 1), ("cancelled", 1), ("discarded", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    assert_eq!(totals, want);
    assert_eq!(durations.len(), 10, "one run time per attempt");
    assert_eq!(waits.len(), 10, "one queue wait per start");
    assert!(durations.iter().chain(&waits).all(|s| s.0 >= 0.0 && s.0 < 30.0), "seconds: {durations:?}");
}
