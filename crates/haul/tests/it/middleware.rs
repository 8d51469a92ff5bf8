//! Middleware: every-kind layers wrap a kind's own layers, which wrap the handler; a layer
//! may short-circuit or panic like a handler. (The logging layer's lines: `tests/logging`.)

use crate::common::{TestDb, fast_config, start};
use haul::{
    BoxFuture, ErrorClass, EventOutcome, Job, JobContext, JobError, JobMeta, Middleware, Next, Worker,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// What ran, in order.
type Trail = Arc<Mutex<Vec<String>>>;

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
    const MAX_ATTEMPTS: i16 = 1;
}

async fn alpha(ctx: JobContext<Trail>, _job: Alpha) -> Result<(), JobError> {
    ctx.state().lock().unwrap().push("alpha".into());
    Ok(())
}

async fn beta(ctx: JobContext<Trail>, _job: Beta) -> Result<(), JobError> {
    ctx.state().lock().unwrap().push("beta".into());
    Ok(())
}

/// Notes its name in the trail before and after the rest of the chain.
struct Mark(&'static str, Trail);

impl Middleware for Mark {
    fn call<'a>(&'a self, _job: &'a JobMeta<'a>, next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            self.1.lock().unwrap().push(format!("{}>", self.0));
            let r = next.run().await;
            self.1.lock().unwrap().push(format!("<{}", self.0));
            r
        })
    }
}

/// Refuses every job without running it.
struct Refuse;

impl Middleware for Refuse {
    fn call<'a>(&'a self, job: &'a JobMeta<'a>, _next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
        let reason = format!("refused {} attempt {}", job.kind(), job.attempt());
        Box::pin(async move { Err(JobError::discard(reason)) })
    }
}

/// Panics once polled.
struct Boom;

impl Middleware for Boom {
    fn call<'a>(&'a self, _job: &'a JobMeta<'a>, _next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { panic!("middleware bug") })
    }
}

fn trail() -> Trail {
    Arc::default()
}

#[tokio::test]
async fn every_kind_layers_wrap_a_kinds_own_which_wrap_the_handler() {
    let db = TestDb::new().await;
    let t = trail();
    let worker = Worker::builder(db.client.clone(), t.clone())
        .handler(alpha)
        .handler(beta)
        .middleware(Mark("g1", t.clone()))
        .middleware_for::<Alpha>(Mark("a1", t.clone()))
        .middleware(Mark("g2", t.clone()))
        .middleware_for::<Alpha>(Mark("a2", t.clone()))
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Alpha { secret: "x".into() }).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Completed);
    let alpha_trail = std::mem::take(&mut *t.lock().unwrap());
    assert_eq!(alpha_trail, ["g1>", "g2>", "a1>", "a2>", "alpha", "<a2", "<a1", "<g2", "<g1"]);
    let id = db.client.insert(Beta {}).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Completed);
    assert_eq!(*t.lock().unwrap(), ["g1>", "g2>", "beta", "<g2", "<g1"], "alpha's own layers stay on alpha");
    w.stop().await;
}

#[tokio::test]
async fn a_layer_that_returns_without_next_decides_the_outcome() {
    let db = TestDb::new().await;
    let t = trail();
    let worker = Worker::builder(db.client.clone(), t.clone())
        .handler(beta)
        .middleware_for::<Beta>(Refuse)
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Beta {}).await.unwrap();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!((e.outcome, e.error.as_deref()), (EventOutcome::Discarded, Some("refused beta attempt 1")));
    assert!(t.lock().unwrap().is_empty(), "the handler never ran");
    w.stop().await;
}

#[tokio::test]
async fn a_panicking_layer_fails_its_attempt_like_a_panicking_handler() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), trail())
        .handler(beta)
        .middleware(Boom)
        .config(fast_config())
        .build();
    let mut w = start(worker.unwrap());
    let id = db.client.insert(Beta {}).await.unwrap();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!(e.outcome, EventOutcome::Discarded, "its only attempt failed");
    assert!(e.error.as_deref().unwrap().contains("panicked: middleware bug"), "{:?}", e.error);
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!(row.errors[0].class, ErrorClass::Panic);
    w.stop().await;
}

#[tokio::test]
async fn a_layer_for_a_kind_without_a_handler_fails_the_build() {
    let db = TestDb::new().await;
    let built =
        Worker::builder(db.client.clone(), trail()).handler(beta).middleware_for::<Alpha>(Refuse).build();
    let e = built.err().expect("refused").to_string();
    assert!(e.contains("`alpha`, which has no handler"), "{e}");
}
