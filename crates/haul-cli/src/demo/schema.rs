//! The demo's own schema. The demo drops and recreates its schema on every run, so it marks
//! the schemas it creates (a `COMMENT ON SCHEMA`) and resets only those: any other schema
//! needs `--force`, and `public`, `information_schema` or a schema holding a jobs table it
//! did not create (a real queue) are refused even then.

use anyhow::{Context, Result, bail};
use haul::Client;
use sqlx::PgPool;

/// The comment that marks a schema as the demo's own.
const MARKER: &str = "haul demo: dropped and recreated by every `haul demo` run";

/// What the schema named by --schema is now.
enum Found {
    Missing,
    /// Created by the demo: it may be reset.
    Demo,
    /// Holds a jobs table the demo did not create: maybe a real queue.
    Queue,
    /// Anything else someone else created.
    Foreign,
}

/// Refuses, before connecting, a name the demo never uses or Haul does not accept.
pub fn check_name(schema: &str) -> Result<()> {
    if matches!(schema, "public" | "information_schema") {
        bail!(
            "the demo never uses schema `{schema}`: it drops and recreates its schema on every run; \
             pick another --schema (the default is haul_demo)"
        );
    }
    Ok(haul::names::validate_schema(schema)?)
}

/// Drops and recreates the demo's schema (refusing a schema that is not the demo's unless
/// `force`, and a real queue's always), migrates it, and adds the demo's orders table.
pub async fn reset(client: &Client, schema: &str, force: bool) -> Result<()> {
    match inspect(client.pool(), schema).await? {
        Found::Queue => bail!(
            "schema `{schema}` holds a jobs table that `haul demo` did not create (a real queue?): \
             the demo never drops it, even with --force; pick another --schema (if it is a demo \
             schema from an older haul, drop it yourself: DROP SCHEMA \"{schema}\" CASCADE)"
        ),
        Found::Foreign if !force => bail!(
            "schema `{schema}` exists and `haul demo` did not create it: the demo drops and \
             recreates its schema on every run; pick another --schema, or pass --force to drop \
             `{schema}` and everything in it"
        ),
        Found::Missing | Found::Demo | Found::Foreign => recreate(client.pool(), schema).await?,
    }
    client.migrate().await.context("migrating the demo schema")?;
    let orders = format!(
        "CREATE TABLE \"{schema}\".orders (id bigint PRIMARY KEY, total_cents int NOT NULL, confirmed_at timestamptz)"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(orders)).execute(client.pool()).await?;
    Ok(())
}

async fn inspect(pool: &PgPool, schema: &str) -> Result<Found> {
    let row: Option<(Option<String>, bool)> = sqlx::query_as(
        "SELECT obj_description(oid, 'pg_namespace'), to_regclass(format('%I.jobs', nspname)) IS NOT NULL \
         FROM pg_namespace WHERE nspname = $1",
    )
    .bind(schema)
    .fetch_optional(pool)
    .await
    .context("looking at the demo schema")?;
    Ok(match row {
        None => Found::Missing,
        Some((Some(comment), _)) if comment == MARKER => Found::Demo,
        Some((_, true)) => Found::Queue,
        Some((_, false)) => Found::Foreign,
    })
}

/// Drops the schema if it exists and creates it marked, in one transaction: a schema the
/// demo created is never seen without its marker.
async fn recreate(pool: &PgPool, schema: &str) -> Result<()> {
    let sql = format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\"; \
         COMMENT ON SCHEMA \"{schema}\" IS '{MARKER}'"
    );
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.context("resetting the demo schema")?;
    tx.commit().await?;
    Ok(())
}
