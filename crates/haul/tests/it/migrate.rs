//! Migrations: applied once, a no-op when current, safe under concurrent migrators, and the
//! printed script is equivalent to the library call.

use crate::common::TestDb;
use haul::{Client, ClientConfig, Error, MIGRATIONS};

#[tokio::test]
async fn migrate_applies_once_then_is_a_no_op() {
    let db = TestDb::unmigrated().await;
    let first = db.client.migrate().await.unwrap();
    assert_eq!(first.applied, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    let again = db.client.migrate().await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, first.version);
    let status = db.client.migration_status().await.unwrap();
    assert!(status.iter().all(|s| s.applied_at.is_some()));
    // Haul never touches the application's own sqlx bookkeeping
    let sqlx_table = db.scalar("SELECT count(*) FROM pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()").await;
    assert_eq!(sqlx_table, 0);
}

#[tokio::test]
async fn concurrent_migrators_do_not_collide() {
    let db = TestDb::unmigrated().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(db.other_client(2).await);
    }
    let runs = clients.iter().map(|c| c.migrate());
    let reports = futures_util::future::join_all(runs).await;
    let applied: usize = reports.into_iter().map(|r| r.unwrap().applied.len()).sum();
    assert_eq!(applied, MIGRATIONS.len(), "each migration applied by exactly one migrator");
}

#[tokio::test]
async fn printed_script_builds_a_schema_haul_accepts() {
    let db = TestDb::unmigrated().await;
    let script = db.client.migration_script();
    sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&db.pool).await.unwrap();
    let status = db.client.migration_status().await.unwrap();
    assert!(status.iter().all(|s| s.applied_at.is_some()));
    assert!(db.client.migrate().await.unwrap().applied.is_empty());
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let db = TestDb::new().await;
    db.exec("INSERT INTO {s}.migrations (version, name) VALUES (9999, 'future')").await;
    let err = db.client.migrate().await.unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { found: 9999, .. }), "{err:?}");
}

#[tokio::test]
async fn schemas_are_independent() {
    let a = TestDb::new().await;
    let b = TestDb::new().await;
    a.client.insert(crate::jobs::Noop { n: 1 }).await.unwrap();
    assert_eq!(a.scalar("SELECT count(*) FROM {s}.jobs").await, 1);
    assert_eq!(b.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
    let reserved =
        Client::with_config(a.pool.clone(), ClientConfig::default().with_schema("select")).unwrap();
    assert_eq!(reserved.schema(), "select", "reserved words are quoted, not refused");
}

/// Migration 0013 on a schema that already holds keyed jobs and a client whose statements are
/// prepared: `jobs_unique` is rebuilt on the key in `COLLATE "C"` (still unique, valid and
/// partial), a key taken before the upgrade is still taken after it, and the prepared
/// statements still run (no result changed type).
#[tokio::test]
async fn jobs_unique_compares_bytewise_after_0013_and_keys_stay_taken() {
    let db = TestDb::unmigrated().await;
    let script = db.client.migration_script();
    let (up_to_12, _) = script.split_once("\n-- migration 13 (").expect("migration 13 in the script");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{up_to_12}\nCOMMIT;"))).execute(&db.pool).await.unwrap();
    let job = |key: &str| haul::NewJob::raw("noop", serde_json::json!({})).with_unique_key(key);
    // keyed jobs as this schema's statements wrote them then (later migrations change them)
    let keyed = "INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts, unique_key, unique_states) \
                 VALUES ('noop', 'default', '{}', 'available', 25, 'é-1', 255), \
                        ('noop', 'default', '{}', 'available', 25, 'b-2', 255)";
    db.exec(keyed).await;
    let first = db.scalar("SELECT min(id) FROM {s}.jobs").await;

    let applied = db.client.migrate().await.unwrap().applied;
    assert_eq!(applied.first(), Some(&13), "{applied:?}");
    let index = "SELECT count(*) FROM pg_index WHERE indexrelid = '{s}.jobs_unique'::regclass \
                 AND indisunique AND indisvalid AND indpred IS NOT NULL \
                 AND indcollation[0] = (SELECT oid FROM pg_collation WHERE collname = 'C')";
    assert_eq!(db.scalar(index).await, 1, "jobs_unique rebuilt unique, valid, partial, in \"C\"");
    let after = db.client.insert_many_checked(db.client.pool(), [job("b-2"), job("é-1")]).await.unwrap();
    assert!(after.iter().all(|o| o.duplicate), "{after:?}");
    assert_eq!((after[0].id, after[1].id), (first + 1, first));
    assert_eq!(db.client.insert(job("b-2")).await.unwrap(), first + 1, "the pool's plain insert too");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 2);
}

/// Migration 0014: `jobs_fetch`, whose keys are all distinct, is not deduplicated.
#[tokio::test]
async fn jobs_fetch_is_not_deduplicated() {
    let db = TestDb::new().await;
    let off = "SELECT count(*) FROM pg_class WHERE oid = '{s}.jobs_fetch'::regclass \
               AND 'deduplicate_items=off' = ANY(reloptions)";
    assert_eq!(db.scalar(off).await, 1);
}

/// Migration 0015 on a schema that already holds jobs: every job is kept, with its id and
/// state, in slot 0; ids go on after the old sequence (never given twice); a key taken before
/// is still taken; and plain jobs inserted after it go to slot 1 or 2, the clock's.
#[tokio::test]
async fn the_rotation_keeps_every_job_its_id_and_its_key() {
    let db = TestDb::unmigrated().await;
    let script = db.client.migration_script();
    let (up_to_14, _) = script.split_once("\n-- migration 15 (").expect("migration 15 in the script");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{up_to_14}\nCOMMIT;"))).execute(&db.pool).await.unwrap();
    db.exec(
        "INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts, unique_key, unique_states) \
         SELECT 'noop', 'default', '{}', 'available', 25, CASE WHEN n = 1 THEN 'k' END, 255 \
         FROM generate_series(1, 5) n; \
         UPDATE {s}.jobs SET state = 'running', attempt = 1, lease_expires_at = now() WHERE id = 2; \
         DELETE FROM {s}.jobs WHERE id = 5",
    )
    .await;
    let applied = db.client.migrate().await.unwrap().applied;
    assert_eq!(applied, [15, 16, 17]);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs_0 WHERE id IN (1, 2, 3, 4)").await, 4);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE id = 2 AND state = 'running'").await, 1);
    let id = db.client.insert(haul::NewJob::raw("noop", serde_json::json!({}))).await.unwrap();
    assert_eq!(id, 6, "after the old sequence's last id (5, deleted)");
    assert_eq!(
        db.scalar("SELECT count(*) FROM {s}.jobs WHERE id = 6 AND slot IN (1, 2)").await,
        1,
        "a rotating slot"
    );
    let taken = haul::NewJob::raw("noop", serde_json::json!({})).with_unique_key("k");
    assert_eq!(db.client.insert(taken).await.unwrap(), 1, "the key is still taken");
}

/// Migration 0017's domains and check keep 0001's rules on every row written: a known state,
/// `finalized_at` set exactly in the final states, a lease on a running row, names of 1 to 128
/// bytes, a priority from -10 to 10, attempts and timeouts in range.
#[tokio::test]
async fn the_row_rules_still_hold() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts) \
         VALUES ('noop', 'default', '{}', 'available', 3)",
    )
    .await;
    let broken = [
        ("SET state = 'lost'", "jobs_state_known"),
        ("SET state = 'running'", "jobs_state_valid"),
        ("SET state = 'completed'", "jobs_state_valid"),
        ("SET finalized_at = now()", "jobs_state_valid"),
        ("SET state = 'retryable', finalized_at = now()", "jobs_state_valid"),
        ("SET kind = ''", "jobs_kind_length"),
        ("SET queue = repeat('q', 129)", "jobs_queue_length"),
        ("SET priority = 11", "jobs_priority_range"),
        ("SET attempt = -1", "jobs_attempt_valid"),
        ("SET max_attempts = 0", "jobs_max_attempts_valid"),
        ("SET timeout_ms = 0", "jobs_timeout_positive"),
    ];
    for (set, check) in broken {
        let sql = format!("UPDATE \"{}\".jobs {set}", db.schema);
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&db.pool).await.unwrap_err();
        let err = err.as_database_error().expect("a database error");
        assert_eq!((err.code().as_deref(), err.constraint()), (Some("23514"), Some(check)), "{set}");
    }
    let allowed = [
        "SET state = 'running', attempt = 1, lease_expires_at = now()",
        "SET state = 'discarded', finalized_at = now(), lease_expires_at = NULL",
        "SET state = 'scheduled', finalized_at = NULL, queue = repeat('q', 128)",
    ];
    for set in allowed {
        db.exec(&format!("UPDATE {{s}}.jobs {set}")).await;
    }
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'scheduled'").await, 1);
}
