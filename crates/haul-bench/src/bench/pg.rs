//! The bench's database: creating `bench_haul` on the server, a fresh schema per measurement,
//! and the SQL the bench itself runs (CHECKPOINT, VACUUM, counts, table size, backlog fill,
//! the oldest snapshot).

use crate::connect;
use anyhow::{Context, Result, bail};
use haul::{Client, ClientConfig};
use sqlx::{AssertSqlSafe, PgPool};

/// Connections of the bench's own pool (inserts, counts, samples).
const BENCH_POOL: u32 = 5;

/// The bench database: its URL, the bench's own pool, and a client on the bench schema.
pub struct Db {
    /// URL of the bench database (same server as --database-url).
    pub url: String,
    /// The bench's own pool: producers, counts and samples, never the worker.
    pub pool: PgPool,
    /// A client on that pool and the bench schema.
    pub client: Client,
    /// The bench schema.
    pub schema: String,
}

impl Db {
    /// Connects to database `db_name` on the server of `server_url`, creating it if missing.
    pub async fn open(server_url: &str, db_name: &str, schema: &str) -> Result<Db> {
        let url = database_url(server_url, db_name)?;
        if url != server_url {
            ensure_database(server_url, db_name).await?;
        }
        let pool = connect::pool(&url, BENCH_POOL).await?;
        let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(schema))?;
        Ok(Db { url, pool, client, schema: schema.to_owned() })
    }

    /// `"schema".jobs`, quoted for SQL.
    pub fn jobs(&self) -> String {
        format!("\"{}\".jobs", self.schema)
    }

    /// A client on the bench schema with a pool of its own, for a worker.
    pub async fn worker_client(&self, pool_size: u32) -> Result<Client> {
        let pool = connect::pool(&self.url, pool_size).await?;
        Ok(Client::with_config(pool, ClientConfig::default().with_schema(&self.schema))?)
    }

    /// Drops the schema with everything in it, migrates it afresh, then CHECKPOINTs.
    pub async fn reset(&self) -> Result<()> {
        let drop = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        self.exec(&drop).await.context("dropping the bench schema")?;
        connect::with_url(self.client.migrate().await, &self.url)?;
        self.checkpoint().await
    }

    /// `CHECKPOINT` (needs superuser or the pg_checkpoint role).
    pub async fn checkpoint(&self) -> Result<()> {
        self.exec("CHECKPOINT").await.context("CHECKPOINT (needs a superuser or the pg_checkpoint role)")
    }

    /// `VACUUM ANALYZE` on the jobs table.
    pub async fn vacuum_analyze(&self) -> Result<()> {
        self.exec(&format!("VACUUM ANALYZE {}", self.jobs())).await.context("VACUUM ANALYZE")
    }

    /// Rows in the jobs table (completed jobs are deleted, so: jobs not yet done).
    pub async fn count_jobs(&self) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM {}", self.jobs());
        Ok(sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&self.pool).await?)
    }

    /// `pg_total_relation_size` of the jobs table (heap, indexes and TOAST) over its slots, in
    /// bytes.
    pub async fn table_bytes(&self) -> Result<i64> {
        let sql = "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::int8 \
                   FROM pg_partition_tree(format('%I.jobs', $1::text)::regclass) WHERE isleaf";
        Ok(sqlx::query_scalar(sql).bind(&self.schema).fetch_one(&self.pool).await?)
    }

    /// `pg_stat_user_tables.n_dead_tup` of the jobs table over its slots (as recent as the
    /// statistics are).
    pub async fn dead_tuples(&self) -> Result<i64> {
        let sql = "SELECT coalesce(sum(n_dead_tup), 0)::int8 FROM pg_stat_user_tables \
                   WHERE relid IN (SELECT relid FROM pg_partition_tree(format('%I.jobs', $1::text)::regclass) \
                                   WHERE isleaf)";
        Ok(sqlx::query_scalar(sql).bind(&self.schema).fetch_one(&self.pool).await?)
    }

    /// Jobs waiting to be claimed and jobs running: `(available, running)`.
    pub async fn depth(&self) -> Result<(i64, i64)> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE state = 'available'), count(*) FILTER (WHERE state = 'running') \
             FROM {} WHERE state IN ('available', 'running')",
            self.jobs()
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_one(&self.pool).await?)
    }

    /// The oldest snapshot another session of the bench database holds: its `backend_xmin`'s
    /// age in transactions and its transaction's age in seconds (0 and 0 when none does).
    pub async fn oldest_snapshot(&self) -> Result<(i64, f64)> {
        let sql = "SELECT coalesce(max(age(backend_xmin)), 0)::int8, \
                   coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8 \
                   FROM pg_stat_activity \
                   WHERE datname = current_database() AND backend_xmin IS NOT NULL \
                   AND pid <> pg_backend_pid()";
        Ok(sqlx::query_as(sql).fetch_one(&self.pool).await?)
    }

    /// Queues `n` available no-op jobs with one server-side statement, as
    /// `Client::insert_many` would make them (kind `noop`, queue `default`, args `{"n": g}`).
    pub async fn fill(&self, n: u64) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (kind, queue, args, state, max_attempts) \
             SELECT 'noop', 'default', jsonb_build_object('n', g), 'available', 20 \
             FROM generate_series(0::bigint, $1::bigint - 1) g",
            self.jobs()
        );
        let n = i64::try_from(n).context("backlog too large")?;
        sqlx::query(AssertSqlSafe(sql)).bind(n).execute(&self.pool).await.context("filling the backlog")?;
        Ok(())
    }

    /// Queues `n` available no-op jobs like [`Db::fill`], spread round-robin over `queues`
    /// queues named by [`queue_names`].
    pub async fn fill_queues(&self, n: u64, queues: usize) -> Result<()> {
        if queues <= 1 {
            return self.fill(n).await;
        }
        let sql = format!(
            "INSERT INTO {} (kind, queue, args, state, max_attempts) \
             SELECT 'noop', 'q' || lpad((g % $2)::text, 3, '0'), jsonb_build_object('n', g), 'available', 20 \
             FROM generate_series(0::bigint, $1::bigint - 1) g",
            self.jobs()
        );
        let (n, queues) = (i64::try_from(n).context("backlog too large")?, queues as i64);
        let q = sqlx::query(AssertSqlSafe(sql)).bind(n).bind(queues);
        q.execute(&self.pool).await.context("filling the backlog")?;
        Ok(())
    }

    /// Jobs left in each queue, fewest first.
    pub async fn remaining_by_queue(&self) -> Result<Vec<i64>> {
        let sql = format!("SELECT count(*) FROM {} GROUP BY queue ORDER BY 1", self.jobs());
        Ok(sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&self.pool).await?)
    }

    /// Transactions committed or rolled back in the bench database so far (as recent as the
    /// statistics are: each backend reports at least once a second).
    pub async fn transactions(&self) -> Result<i64> {
        let sql =
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()";
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// Runs one statement with no parameters.
    async fn exec(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&self.pool).await?;
        Ok(())
    }
}

/// `server_url` with its database replaced by `db_name`.
fn database_url(server_url: &str, db_name: &str) -> Result<String> {
    if db_name.is_empty() || !db_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("--db-name `{db_name}` must be letters, digits and underscores");
    }
    let mut url = url::Url::parse(server_url)
        .with_context(|| format!("--database-url `{}` is not a URL", connect::redact(server_url)))?;
    url.set_path(&format!("/{db_name}"));
    Ok(url.to_string())
}

/// Creates database `db_name` through `admin_url` unless it exists.
async fn ensure_database(admin_url: &str, db_name: &str) -> Result<()> {
    let admin = connect::pool(admin_url, 1).await?;
    let sql = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)";
    let exists: bool = sqlx::query_scalar(sql).bind(db_name).fetch_one(&admin).await?;
    if !exists {
        let create = format!("CREATE DATABASE \"{db_name}\"");
        match sqlx::raw_sql(AssertSqlSafe(create)).execute(&admin).await {
            Ok(_) => eprintln!("created database {db_name}"),
            // created meanwhile by another bench (duplicate_database, or the catalog's unique index)
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(e) => return Err(e).with_context(|| format!("creating database {db_name}")),
        }
    }
    admin.close().await;
    Ok(())
}

/// The queues of a backlog of `n` queues: `default` alone, or `q000`, `q001`, ...
pub fn queue_names(n: usize) -> Vec<String> {
    if n <= 1 { vec!["default".to_owned()] } else { (0..n).map(|i| format!("q{i:03}")).collect() }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn swaps_the_database() {
        let u = database_url("postgres://postgres@127.0.0.1:5432/postgres", "bench_haul").unwrap();
        assert_eq!(u, "postgres://postgres@127.0.0.1:5432/bench_haul");
        let u = database_url("postgres://u:p@h/db?sslmode=disable", "b").unwrap();
        assert_eq!(u, "postgres://u:p@h/b?sslmode=disable");
        assert!(database_url("postgres://h/db", "bad-name").is_err());
    }
}
