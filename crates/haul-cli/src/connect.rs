//! Connecting to PostgreSQL, with an error that says how to get a server when none answers.

use anyhow::{Context, Result, anyhow};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// The `--schema` flag of the subcommands that work on Haul's tables.
#[derive(clap::Args)]
pub struct SchemaArg {
    /// Schema of Haul's tables.
    #[arg(long, global = true, default_value = haul::config::SCHEMA_DEFAULT)]
    pub schema: String,
}

impl SchemaArg {
    /// A client on `pool` for this schema.
    pub fn client(&self, pool: PgPool) -> Result<haul::Client> {
        Ok(haul::Client::with_config(pool, haul::ClientConfig::default().with_schema(&self.schema))?)
    }
}

/// A pool of `size` connections to `url`.
pub async fn pool(url: &str, size: u32) -> Result<PgPool> {
    try_pool(url, size).await.map_err(|e| no_server(url, e))
}

/// Like [`pool`], but returns the driver error for callers that have a fallback.
///
/// Without sqlx's ping on every acquire (a round trip before each statement, as Haul's worker
/// pool does too): a connection that broke while idle fails its next statement instead, with
/// an error the caller sees.
pub async fn try_pool(url: &str, size: u32) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect(url)
        .await
}

/// True when the error means nothing listens at the address (as opposed to bad credentials).
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
}

/// The error to show when the server cannot be reached: what failed and how to start one.
pub fn no_server(url: &str, e: sqlx::Error) -> anyhow::Error {
    let shown = redact(url);
    anyhow!(e).context(format!(
        "could not connect to PostgreSQL at {shown}\n\n\
         Haul keeps its jobs in PostgreSQL; start a server and run this again:\n  \
         - Debian/Ubuntu packages:  sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n  \
         - Homebrew:                brew services start postgresql\n  \
         - Docker:                  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\n\
         or point DATABASE_URL (or --database-url) at a server you have"
    ))
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Runs `f` and adds which database it ran against to its error.
pub fn with_url<T>(r: haul::Result<T>, url: &str) -> Result<T> {
    r.with_context(|| format!("against {}", redact(url)))
}
