//! Connecting to PostgreSQL: one probe connection first, so a failure says which one it was
//! (refused, authentication, unknown database, not a PostgreSQL URL) and what to do about it.

mod failure;

pub use crate::redact::redact;
use anyhow::{Context, Result};
pub use failure::{ConnectError, Failure};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// How long the probe connection may take before the server counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

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
    Ok(connect(url, size).await?)
}

/// Like [`pool`], with the failure kept typed for callers that have a fallback.
///
/// Without sqlx's ping on every acquire (a round trip before each statement, as Haul's worker
/// pool does too): a connection that broke while idle fails its next statement instead, with
/// an error the caller sees.
pub async fn connect(url: &str, size: u32) -> Result<PgPool, ConnectError> {
    let options = options(url)?;
    probe(url, &options).await?;
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// The connection options of a `postgres://` or `postgresql://` URL.
fn options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        let why = scheme.map_or("it has no scheme".to_owned(), |s| format!("its scheme is `{s}`"));
        return Err(ConnectError::new(url, Failure::NotPostgres, why));
    }
    PgConnectOptions::from_str(url).map_err(|e| ConnectError::from_sqlx(url, &e))
}

/// Opens and closes one connection, for an error that names the cause (a pool would only
/// say that it timed out).
async fn probe(url: &str, options: &PgConnectOptions) -> Result<(), ConnectError> {
    match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            Ok(())
        }
        Ok(Err(e)) => Err(ConnectError::from_sqlx(url, &e)),
        Err(_) => {
            Err(ConnectError::new(url, Failure::Unreachable, format!("no answer within {PROBE_TIMEOUT:?}")))
        }
    }
}

/// Adds which database a call ran against to its error (not to "job N not found", which
/// is the whole answer).
pub fn with_url<T>(r: haul::Result<T>, url: &str) -> Result<T> {
    match r {
        Err(
            e @ (haul::Error::JobNotFound { .. }
            | haul::Error::BatchNotFound { .. }
            | haul::Error::SagaNotFound { .. }),
        ) => Err(e.into()),
        r => r.with_context(|| format!("against {}", redact(url))),
    }
}
