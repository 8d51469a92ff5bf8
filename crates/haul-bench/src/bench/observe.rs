//! `--observe`: the bench's worker with Haul's observability on — the logging middleware, the
//! built-in metrics hook recording into a real Prometheus recorder (no HTTP listener), and a
//! no-op hook — so W3 with it on and off can be compared (`both` measures them back to back).

use haul::metrics::{BUCKETS, Metrics};
use haul::{Hook, Logging, WorkerBuilder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::Serialize;
use std::sync::OnceLock;

/// Whether the bench's workers run with middleware, metrics and hooks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Observe {
    /// None: the library's default.
    #[default]
    Off,
    /// Every worker the bench starts has them.
    On,
    /// W3 runs without them, then with them, in each run, and reports the ratio; the other
    /// workloads run without.
    Both,
}

/// A hook that does nothing: the cost of calling one.
struct Noop;

impl Hook for Noop {}

/// `builder` with the logging middleware, the metrics hook and a no-op hook, the process's
/// Prometheus recorder installed first (once).
pub fn install<S: Clone + Send + Sync + 'static>(builder: WorkerBuilder<S>) -> WorkerBuilder<S> {
    static RECORDER: OnceLock<()> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let builder =
            PrometheusBuilder::new().set_buckets_for_metric(Matcher::Prefix("haul_job_".into()), BUCKETS);
        let installed =
            builder.map_err(|e| e.to_string()).and_then(|b| b.install_recorder().map_err(|e| e.to_string()));
        if let Err(e) = installed {
            eprintln!("warning: no Prometheus recorder for --observe: {e}");
        }
    });
    builder.middleware(Logging::new()).hook(Metrics::new()).hook(Noop)
}
