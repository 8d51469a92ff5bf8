//! Inserts through PgBouncer: single, bulk and inside the caller's transaction, from more
//! tasks at once than there are server connections.

use crate::Pooled;
use crate::jobs::Noop;
use futures_util::future::try_join_all;

#[tokio::test]
async fn single_bulk_and_transactional_inserts_go_through() {
    let Some(p) = Pooled::start().await else { return };
    let one = p.client.insert(Noop { n: 0 }).await.unwrap();
    let many = p.client.insert_many((1..=500).map(|n| Noop { n })).await.unwrap();
    assert_eq!(many.len(), 500);

    let mut tx = p.client.pool().begin().await.unwrap();
    let kept = p.client.insert_tx(&mut *tx, Noop { n: 1000 }).await.unwrap();
    let kept_many = p.client.insert_many_tx(&mut *tx, (0..3).map(|n| Noop { n })).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = p.client.pool().begin().await.unwrap();
    let dropped = p.client.insert_tx(&mut *tx, Noop { n: 2000 }).await.unwrap();
    tx.rollback().await.unwrap();

    for id in [one, kept, many[499], kept_many[2]] {
        assert!(p.client.get(id).await.unwrap().is_some(), "job {id} committed");
    }
    assert!(p.client.get(dropped).await.unwrap().is_none(), "the rolled-back insert left nothing");
    assert_eq!(p.db.scalar("SELECT count(*) FROM {s}.jobs").await, 505);
}

/// Thirty tasks on eight client connections and three server connections: every client's
/// prepared statements reach whichever server connection runs them.
#[tokio::test]
async fn concurrent_inserts_share_the_server_connections() {
    let Some(p) = Pooled::start().await else { return };
    let task = |t: u64| {
        let client = p.client.clone();
        async move {
            for i in 0..20 {
                client.insert(Noop { n: t * 100 + i }).await?;
                client.insert_many((0..5).map(|n| Noop { n })).await?;
            }
            Ok::<_, haul::Error>(())
        }
    };
    try_join_all((0..30).map(task)).await.unwrap_or_else(|e| panic!("{e}\n{}", p.bouncer.log()));
    assert_eq!(p.db.scalar("SELECT count(*) FROM {s}.jobs").await, 30 * 20 * 6);
}
