//! Fenced batch statements must plan well whatever the statistics say, as generic and as
//! custom plans. The trap: statistics taken while nothing ran (the planner expects ~0
//! running rows), then thousands running on a table small enough that a scan of it looks
//! cheaper than probing the primary key once per batch row.

use super::columns::statement;
use super::{JobSql, WORKER_SESSION};
use crate::job::JobState;
use sqlx::AssertSqlSafe;
use std::sync::Arc;

/// `n` copies of `value` as an array literal (EXECUTE takes no subqueries).
fn literal(n: usize, value: impl Fn(usize) -> String) -> String {
    format!("'{{{}}}'", (1..=n).map(value).collect::<Vec<_>>().join(","))
}

/// The fenced batch statements with arguments for a batch of 1,000 running ids (`id(1..=1000)`,
/// all at attempt 1), as (name, statement, parameter types, EXECUTE arguments).
fn fenced_cases(
    sql: &JobSql,
    id: impl Fn(usize) -> usize,
) -> Vec<(&'static str, &Arc<str>, &'static str, String)> {
    let ids = literal(1000, |i| id(i).to_string());
    let ones = literal(1000, |_| "1".into());
    let arrays = format!("0, {ids}, {ones}");
    let retry = literal(1000, |_| JobState::Retryable.as_str().into());
    let no = literal(1000, |_| "f".into());
    let err = literal(1000, |_| "error".into());
    let ids_attempts = "bigint, bigint[], smallint[]";
    vec![
        ("complete_delete", &sql.complete.delete_many.any, ids_attempts, arrays.clone()),
        ("complete_keep", &sql.complete.keep_many.any, ids_attempts, arrays.clone()),
        ("complete_delete_in_slot", &sql.complete.delete_many.one[0], ids_attempts, arrays.clone()),
        ("complete_keep_in_slot", &sql.complete.keep_many.one[0], ids_attempts, arrays.clone()),
        (
            "heartbeat",
            &sql.lease.heartbeat_many,
            "bigint, bigint[], smallint[], bigint",
            format!("{arrays}, 1000"),
        ),
        ("release", &sql.lease.release_many, ids_attempts, arrays.clone()),
        (
            "set_state",
            &sql.complete.set_state_if_running_many,
            "bigint, bigint[], smallint[], text[], bigint[], bool[], text[], text[], bool",
            format!("{arrays}, {retry}, {ones}, {no}, {err}, {err}, true"),
        ),
    ]
}

/// Prepares `stmt` as `name` and returns its plan as a generic and as a custom plan.
async fn plans(
    conn: &mut sqlx::PgConnection,
    name: &str,
    stmt: &str,
    types: &str,
    args: &str,
) -> Vec<(&'static str, String)> {
    let prepare = format!("PREPARE {name}({types}) AS {stmt}");
    sqlx::raw_sql(AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
    let mut out = Vec::new();
    for mode in ["force_generic_plan", "force_custom_plan"] {
        let set = format!("SET plan_cache_mode = {mode}");
        sqlx::raw_sql(AssertSqlSafe(set)).execute(&mut *conn).await.unwrap();
        let explain = format!("EXPLAIN EXECUTE {name}({args})");
        let plan: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(explain)).fetch_all(&mut *conn).await.unwrap();
        out.push((mode, plan.join("\n")));
    }
    out
}

#[tokio::test]
async fn fenced_statements_never_drive_the_join_from_a_scan_of_jobs() {
    let (pool, db, schema) = crate::db::test_db("ht_plans").await;
    let q = |s: &str| statement(s, &schema);
    let mut conn = pool.acquire().await.unwrap();
    let setup = [
        "INSERT INTO {schema}.jobs (kind, queue, args, state, max_attempts) SELECT 'noop', 'default', '{}', {available}, 3 FROM generate_series(1, 100000)",
        "VACUUM ANALYZE {schema}.jobs",
        "UPDATE {schema}.jobs SET state = {running}, attempt = 1, lease_expires_at = now() + interval '1 minute' WHERE id <= 2000",
    ];
    for step in setup {
        sqlx::raw_sql(AssertSqlSafe(q(step))).execute(&mut *conn).await.unwrap();
    }
    worker_session(&mut conn).await;
    let cases = fenced_cases(&db.inner.job, |i| i);
    for (name, stmt, types, args) in cases {
        for (mode, plan) in plans(&mut conn, name, stmt, types, &args).await {
            // the quadratic shape: a nested loop filtering the batch against scanned rows
            assert!(
                !plan.contains("Join Filter: ((j.id = d.id)"),
                "{name} ({mode}) loops over the batch per row:\n{plan}"
            );
            assert!(!plan.contains("jobs_lease"), "{name} ({mode}) must not scan the lease index:\n{plan}");
            if mode == "force_generic_plan" {
                assert!(plan.contains("jobs_pkey"), "{name} (generic) should probe the primary key:\n{plan}");
            }
        }
    }
    drop(conn);
    sqlx::raw_sql(AssertSqlSafe(q("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.unwrap();
}

/// The workflow statements the completer and the settler run on the worker's sessions, with
/// arguments naming rows of the filled table.
fn workflow_cases(sql: &JobSql) -> Vec<(&'static str, &Arc<str>, &'static str, String)> {
    let ids = "'{50, 100, 150}'".to_owned();
    vec![
        ("workflow_open", &sql.flow.open, "bigint", "0".to_owned()),
        ("batch_lock_open", &sql.flow.lock_open, "bigint, bigint, bigint", "0, 0, 1000".to_owned()),
        ("batch_settle", &sql.flow.settle, "bigint, bigint[]", format!("0, {ids}")),
        ("pending_lock", &sql.depend.lock_dependents, "bigint, bigint[]", format!("0, {ids}")),
        ("pending_lock_open", &sql.depend.lock_open, "bigint, bigint, bigint", "0, 0, 1000".to_owned()),
        ("pending_settle_dependents", &sql.depend.settle_dependents, "bigint, bigint[]", format!("0, {ids}")),
        ("pending_settle_jobs", &sql.depend.settle_jobs, "bigint, bigint[]", format!("0, {ids}")),
        ("saga_lock_open", &sql.saga.lock_open, "bigint, bigint, bigint", "0, 0, 1000".to_owned()),
        ("saga_settle", &sql.saga.settle, "bigint, bigint[]", format!("0, {ids}")),
    ]
}

/// Applies the worker's planner settings to a test session.
async fn worker_session(conn: &mut sqlx::PgConnection) {
    for (k, v) in WORKER_SESSION {
        sqlx::raw_sql(AssertSqlSafe(format!("SET {k} = {v}"))).execute(&mut *conn).await.unwrap();
    }
}

/// The trap W5 hit after a held xmin horizon ended: a vacuum saw a big table nearly empty
/// (statistics: a few rows on many pages), then the table filled up again. Under the
/// worker's settings every statement must still touch only its batch's rows.
#[tokio::test]
async fn worker_statements_stay_on_index_paths_when_statistics_say_the_table_is_empty() {
    let (pool, db, schema) = crate::db::test_db("ht_stale").await;
    let q = |s: &str| statement(s, &schema);
    let mut conn = pool.acquire().await.unwrap();
    let fill = "INSERT INTO {schema}.jobs (kind, queue, args, state, max_attempts) SELECT 'noop', 'default', '{}', {available}, 3 FROM generate_series(1, 100000)";
    let setup = [
        fill,
        "DELETE FROM {schema}.jobs WHERE id > 10",
        "VACUUM ANALYZE {schema}.jobs",
        fill,
        "UPDATE {schema}.jobs SET state = {running}, attempt = 1, lease_expires_at = now() - interval '1 minute' WHERE id % 50 = 0",
        "UPDATE {schema}.jobs SET state = {retryable}, run_at = now() WHERE id % 50 = 1",
    ];
    for step in setup {
        sqlx::raw_sql(AssertSqlSafe(q(step))).execute(&mut *conn).await.unwrap();
    }
    worker_session(&mut conn).await;
    let sql = &db.inner.job;
    let mut cases = vec![
        (
            "claim",
            &sql.claim.first,
            "bigint, text, bigint, bigint, text",
            "0, 'default', 500, 1000, 'w'".to_owned(),
        ),
        (
            "claim_after",
            &sql.claim.after,
            "bigint, text, bigint, bigint, text, smallint, timestamptz, bigint",
            "0, 'default', 500, 1000, 'w', 0, now() - interval '1 hour', 0".to_owned(),
        ),
        (
            "claim_many",
            &sql.claim_many,
            "bigint, text[], bigint[], bigint, text, smallint[], timestamptz[], bigint[], bool[]",
            "0, '{default,other}', '{500,500}', 1000, 'w', '{-32768,0}', '{1970-01-01,2026-01-01}', '{0,0}', '{t,f}'"
                .to_owned(),
        ),
        ("schedule", &sql.maintain.schedule_due, "bigint, bigint", "0, 1000".to_owned()),
        ("rescue", &sql.maintain.rescue_many, "bigint, bigint, timestamptz", "0, 1000, NULL".to_owned()),
        (
            "clean",
            &sql.maintain.delete_finalized_before,
            "bigint, text, float8, bigint",
            format!("0, '{}', 60, 1000", JobState::Completed),
        ),
    ];
    cases.extend(fenced_cases(sql, |i| i * 50));
    cases.extend([
        ("running_by_partition", &sql.limited.running, "bigint, text, boolean, text", "0, 'default', false, 'k'".to_owned()),
        (
            "limited_claim",
            &sql.limited.claim,
            "bigint, text, boolean, text, bigint, bigint, text, text[], text[], int[], int, timestamptz, bigint",
            "0, 'default', true, 'k', 500, 1000, 'w', '{x}', '{y}', '{3}', 500, now(), 2000".to_owned(),
        ),
    ]);
    cases.extend(workflow_cases(sql));
    for (name, stmt, types, args) in cases {
        for (mode, plan) in plans(&mut conn, name, stmt, types, &args).await {
            // a saga's steps are unnested per saga row (a loop over a function, not a table)
            let shapes: &[&str] = if name.starts_with("saga") {
                &["Seq Scan", "Bitmap"]
            } else {
                &["Seq Scan", "Bitmap", "Nested Loop"]
            };
            for shape in shapes {
                assert!(!plan.contains(shape), "{name} ({mode}) plans a {shape}:\n{plan}");
            }
            if name == "limited_claim" {
                assert!(plan.contains("jobs_fetch"), "{name} ({mode}) must walk the fetch index:\n{plan}");
            }
            if name.starts_with("claim") {
                assert!(
                    // in order: a Merge Append of the slots' walks, never a Sort node
                    plan.contains("jobs_fetch") && !plan.contains("Sort  ("),
                    "{name} ({mode}) must walk the fetch index in order:\n{plan}"
                );
                // each slot's update fetches the picked rows by address
                assert!(plan.contains("Tid Scan"), "{name} ({mode}) must update by address:\n{plan}");
                // a disabled plan node's cost would have every run compiled first
                assert!(!plan.contains("JIT"), "{name} ({mode}) is costed for JIT:\n{plan}");
            }
        }
    }
    drop(conn);
    sqlx::raw_sql(AssertSqlSafe(q("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.unwrap();
}
