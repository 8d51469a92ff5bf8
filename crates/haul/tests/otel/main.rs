//! With the `otel` feature, a job inserted inside a traced request runs in a span of the same
//! trace, a child of the request's span. A test binary of its own: it installs the process's
//! global subscriber, so no other test's spans or cached callsite interest can meet it.
#![cfg(feature = "otel")]

#[path = "../it/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../it/jobs.rs"]
#[allow(dead_code)]
mod jobs;

use common::{TestDb, fast_config, start};
use haul::Worker;
use jobs::{Noop, noop};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn a_jobs_span_continues_the_trace_of_the_request_that_enqueued_it() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("haul-test"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let request = tracing::info_span!("request");
    let id = db.client.insert(Noop { n: 1 }).instrument(request.clone()).await.unwrap();
    let (trace_id, span_id) = {
        let cx = request.context();
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), sc.span_id())
    };
    w.next_where(|e| e.id == id).await;
    w.stop().await;
    drop(request);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let job = spans.iter().find(|s| s.name == "job").expect("the job's span was exported");
    assert_eq!(job.span_context.trace_id(), trace_id, "the job's span is in the request's trace");
    assert_eq!(job.parent_span_id, span_id, "and a child of the request's span");
    let untraced = db.client.insert(Noop { n: 2 }).await.unwrap();
    let row = db.client.get(untraced).await.unwrap().unwrap();
    assert!(row.metadata.get(haul::otel::METADATA_KEY).is_none(), "no context, no key: {:?}", row.metadata);
}
