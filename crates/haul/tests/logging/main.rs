//! Every line an attempt logs carries its span's fields (`job_id`, `kind`, `queue`,
//! `attempt`), the logging layer adds its start and finish lines, and args appear only when
//! asked. A test binary of its own: it installs the process's global subscriber, so no other
//! test's spans or cached callsite interest can meet it.

#[path = "../it/common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{TestDb, fast_config, start};
use haul::{Job, JobContext, JobError, Logging, Worker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Alpha {
    secret: String,
}

impl Job for Alpha {
    const KIND: &'static str = "alpha";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Beta {}

impl Job for Beta {
    const KIND: &'static str = "beta";
}

async fn alpha(_ctx: JobContext<()>, _job: Alpha) -> Result<(), JobError> {
    tracing::info!("hello from the handler");
    Ok(())
}

async fn beta(_ctx: JobContext<()>, _job: Beta) -> Result<(), JobError> {
    tracing::info!("hello from the handler");
    Ok(())
}

/// One logged line: its message, its own fields, and the fields of the spans around it.
#[derive(Debug, Clone, Default)]
struct Line {
    message: String,
    fields: BTreeMap<String, String>,
    spans: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every line with its spans' fields.
struct Capture(Arc<Mutex<Vec<Line>>>);

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Line { message: fields.0.remove("message").unwrap_or_default(), ..Line::default() };
        line.fields = fields.0;
        for span in ctx.event_scope(event).into_iter().flat_map(|s| s.from_root()) {
            if let Some(f) = span.extensions().get::<Fields>() {
                line.spans.extend(f.0.clone());
            }
        }
        self.0.lock().unwrap().push(line);
    }
}

#[tokio::test]
async fn every_line_of_an_attempt_carries_its_job_id_and_args_only_when_asked() {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ())
        .handler(alpha)
        .handler(beta)
        .middleware(Logging::new())
        .middleware_for::<Beta>(Logging::new().with_args())
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let a = db.client.insert(Alpha { secret: "s3cret".into() }).await.unwrap();
    let b = db.client.insert(Beta {}).await.unwrap();
    w.collect(2, |e| e.id == a || e.id == b).await;
    w.stop().await;
    let lines = lines.lock().unwrap().clone();
    let of = |id: i64, message: &str| -> Vec<Line> {
        let id = id.to_string();
        let job = lines.iter().filter(|l| l.message == message);
        job.filter(|l| l.spans.get("job_id") == Some(&id)).cloned().collect()
    };
    for id in [a, b] {
        assert_eq!(of(id, "hello from the handler").len(), 1, "the handler's line carries job_id {id}");
        let started = of(id, "job started");
        let finished = of(id, "job finished");
        assert_eq!((started.len(), finished.len()), (if id == a { 1 } else { 2 }, started.len()));
        assert_eq!(finished[0].fields.get("outcome").map(String::as_str), Some("completed"));
        assert!(finished[0].fields.contains_key("run_time"));
        let span = &finished[0].spans;
        assert_eq!(
            (span["kind"].as_str(), span["queue"].as_str(), span["attempt"].as_str()),
            (if id == a { "alpha" } else { "beta" }, "default", "1")
        );
    }
    let handler_lines = lines.iter().filter(|l| l.message == "hello from the handler").count();
    assert_eq!(handler_lines, 2, "no handler line without a job_id");
    assert!(!format!("{lines:?}").contains("s3cret"), "alpha's args are never logged");
    let with_args = of(b, "job started").into_iter().filter(|l| l.fields.contains_key("args")).count();
    assert_eq!(with_args, 1, "beta's own layer logs its args");
}
