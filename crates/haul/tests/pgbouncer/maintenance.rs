//! Leader election through PgBouncer: one of two workers leads, its rescuer and periodic
//! enqueuer run, and when it stops the other takes over.

use crate::common::start;
use crate::jobs::noop;
use crate::{Pooled, pooled_config};
use haul::{NewJob, Periodic, Worker};
use std::time::Duration;

#[tokio::test]
async fn one_leader_maintains_and_hands_over_on_shutdown() {
    let Some(p) = Pooled::start().await else { return };
    let tick = || NewJob::raw("tick", serde_json::json!({})).with_queue("ticks");
    let build = |id: &str, client: haul::Client| {
        let w = Worker::builder(client, ())
            .handler(noop)
            .id(id)
            .config(pooled_config().with_completed_retention(Duration::from_secs(60)))
            .periodic(Periodic::every(Duration::from_secs(1)).named("tick"), tick);
        start(w.build().unwrap())
    };
    let first = build("first", p.client.clone());
    let leading = "SELECT count(*) FROM {s}.leader WHERE leader_id = 'first' AND expires_at > now()";
    p.db.until_scalar(leading, 1).await;
    let second = build("second", p.other_client());

    // the leader's periodic enqueuer and rescuer run through the pooler
    p.db.until_scalar("SELECT least(count(*), 1) FROM {s}.jobs WHERE queue = 'ticks'", 1).await;
    let orphan = orphan(&p).await;
    let rerun = format!(
        "SELECT count(*) FROM {{s}}.jobs WHERE id = {orphan} AND state = 'completed' AND attempt = 2"
    );
    p.db.until_scalar(&rerun, 1).await;
    assert_eq!(p.client.maintenance_leader().await.unwrap().as_deref(), Some("first"));

    first.stop().await;
    let took_over = "SELECT count(*) FROM {s}.leader WHERE leader_id = 'second' AND expires_at > now()";
    p.db.until_scalar(took_over, 1).await;
    second.stop().await;
}

/// A job as a worker that died mid-attempt leaves it: running, lease lapsed.
async fn orphan(p: &Pooled) -> i64 {
    let id =
        p.client.insert(NewJob::raw("parked", serde_json::json!({})).with_queue("parked")).await.unwrap();
    p.db.exec(&format!(
        "UPDATE {{s}}.jobs SET kind = 'noop', queue = 'default', args = '{{\"n\": 1}}', state = 'running',
         attempt = 1, attempted_at = now() - interval '20 s', attempted_by = 'dead-worker',
         lease_expires_at = now() - interval '1 ms' WHERE id = {id}"
    ))
    .await;
    id
}
