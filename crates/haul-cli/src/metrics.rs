//! `/metrics` for the long-running commands: installs the Prometheus recorder, with Haul's
//! histogram buckets, serving the text exposition format over HTTP at an address.

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;

/// Installs the process's recorder and serves it at `http://{addr}/metrics` (any path answers)
/// on the current Tokio runtime. Call it before building the worker.
pub fn serve(addr: SocketAddr) -> Result<()> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("haul_job_".into()), haul::metrics::BUCKETS)?
        .with_http_listener(addr)
        .install()
        .with_context(|| format!("could not serve metrics at {addr}"))
}
