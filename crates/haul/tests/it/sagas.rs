//! Sagas: the payments example runs to completion (a confirmed order, and a rejected one
//! refunded then released), and a worker killed mid-saga loses nothing: the rescuer returns
//! its step, another worker finishes the saga, and the right compensations run in order.

#[path = "../../examples/payments.rs"]
#[allow(dead_code, unreachable_pub)]
mod payments;

use crate::common::{TestDb, WAIT, database_url, fast_config};
use haul::{Client, ClientConfig, JobContext, JobError, JobState, SagaState, Worker};
use payments::{Charge, Ledger, Reserve, order_saga};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;
use tokio::sync::mpsc;

async fn ledger(db: &TestDb) -> Vec<(i64, String)> {
    let sql = format!("SELECT order_id, action FROM \"{}\".payments_ledger ORDER BY seq", db.schema);
    sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await.unwrap()
}

fn actions(ledger: &[(i64, String)], order: i64) -> Vec<&str> {
    ledger.iter().filter(|(o, _)| *o == order).map(|(_, a)| a.as_str()).collect()
}

#[tokio::test]
async fn the_payments_example_confirms_one_order_and_compensates_the_other() {
    let db = TestDb::new().await;
    let ledger = payments::run(db.pool.clone(), &db.schema).await.unwrap();
    assert_eq!(actions(&ledger, 1), ["reserve", "charge", "confirm"]);
    assert_eq!(actions(&ledger, 2), ["reserve", "charge", "refund", "release"], "refund first, then release");
}

/// The dying worker's state: the ledger, and how to tell the test its charge started.
#[derive(Clone)]
struct Doomed {
    ledger: Ledger,
    started: mpsc::UnboundedSender<i64>,
}

async fn reserve(ctx: JobContext<Doomed>, job: Reserve) -> Result<(), JobError> {
    ctx.state().ledger.record(&job.0, "reserve").await
}

/// Tells the test the charge started, then never ends.
async fn charge_and_hang(ctx: JobContext<Doomed>, _: Charge) -> Result<(), JobError> {
    let _ = ctx.state().started.send(ctx.id());
    std::future::pending::<()>().await;
    Ok(())
}

/// A worker on its own runtime and pool, killed (its runtime dropped: no shutdown, no
/// release, no more heartbeats) once its charge handler has started.
fn doomed_worker(
    schema: String,
    table: String,
) -> (std::thread::JoinHandle<()>, mpsc::UnboundedReceiver<i64>) {
    let (tell, heard) = mpsc::unbounded_channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let pool = PgPoolOptions::new().max_connections(3).connect(&database_url()).await.unwrap();
            let client =
                Client::with_config(pool.clone(), ClientConfig::default().with_schema(&schema)).unwrap();
            let (started, mut charging) = mpsc::unbounded_channel();
            let state = Doomed { ledger: Ledger { pool, table }, started };
            let b = Worker::builder(client, state).handler(reserve).handler(charge_and_hang);
            tokio::spawn(b.config(fast_config()).build().unwrap().run(haul::CancellationToken::new()));
            tell.send(charging.recv().await.unwrap()).unwrap();
        });
        drop(rt); // the worker dies here, its charge still running
    });
    (thread, heard)
}

#[tokio::test]
async fn a_worker_killed_mid_saga_loses_nothing_and_the_saga_is_compensated() {
    let db = TestDb::new().await;
    let table = format!("\"{}\".payments_ledger", db.schema);
    db.exec(&format!("CREATE TABLE {table} (seq bigserial, order_id bigint, action text)")).await;
    let saga = db.client.insert_saga(order_saga(7, 990, true)).await.unwrap();

    // the first worker reserves, starts charging, and dies mid-charge
    let (thread, mut started) = doomed_worker(db.schema.clone(), table.clone());
    let charging = tokio::time::timeout(WAIT, started.recv()).await.unwrap().unwrap();
    assert_eq!(charging, saga.steps[1]);
    thread.join().unwrap();
    assert_eq!(db.client.get(charging).await.unwrap().unwrap().state, JobState::Running, "left running");

    // a healthy worker: its rescuer returns the charge, it charges, the confirmation is
    // rejected, and the refund then the release run
    let healthy = Ledger { pool: db.pool.clone(), table };
    let w = payments::payments_worker(db.client.clone(), healthy, fast_config()).unwrap();
    let token = haul::CancellationToken::new();
    let running = tokio::spawn(w.run(token.clone()));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = db.client.saga(saga.id).await.unwrap().unwrap();
        if info.state == SagaState::Compensated {
            assert_eq!((info.failed_step, info.compensations.len()), (Some(2), 2));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "saga stayed {:?}", info.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(actions(&ledger(&db).await, 7), ["reserve", "charge", "refund", "release"]);
}
