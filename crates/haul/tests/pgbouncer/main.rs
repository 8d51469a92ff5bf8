//! Haul through PgBouncer in transaction pooling: inserts, migrations, a worker running jobs
//! with retries, leader election and the leader's maintenance, heartbeats and graceful
//! shutdown, each test with a PgBouncer of its own whose server pool is smaller than the
//! clients' pools. Workers poll (`with_poll_only`): LISTEN needs a session of its own, which
//! a transaction pooler does not give (docs/deployment.md).

#[path = "../it/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../it/jobs.rs"]
#[allow(dead_code)]
mod jobs;

mod bouncer;
mod doctor;
mod insert;
mod maintenance;
mod shutdown;
mod work;

use bouncer::Bouncer;
use common::TestDb;
use haul::{Client, WorkerConfig};

/// A fresh schema, and a client on it through a PgBouncer of its own.
pub struct Pooled {
    pub db: TestDb,
    /// Migrated the schema, through PgBouncer.
    pub client: Client,
    pub bouncer: Bouncer,
}

impl Pooled {
    /// `None` (the test then returns) where no PgBouncer is installed outside CI.
    pub async fn start() -> Option<Pooled> {
        let bouncer = Bouncer::start().await?;
        let db = TestDb::unmigrated().await;
        let client = db.client_at(&bouncer.url(), 8);
        client
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate through PgBouncer: {e}\n{}", bouncer.log()));
        Some(Pooled { db, client, bouncer })
    }

    /// Another client through the same PgBouncer (another process's pool).
    pub fn other_client(&self) -> Client {
        self.db.client_at(&self.bouncer.url(), 8)
    }
}

/// The tests' short intervals, polling only.
pub fn pooled_config() -> WorkerConfig {
    common::fast_config().with_poll_only(true)
}
