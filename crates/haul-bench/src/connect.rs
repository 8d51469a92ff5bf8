//! Connecting to PostgreSQL, with an error that says how to get a server when none answers
//! (the part of `haul`'s `connect.rs` the bench uses).

use anyhow::{Context, Result, anyhow};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// A pool of `size` connections to `url`, without sqlx's ping on every acquire (as Haul's
/// worker pool): a connection that broke while idle fails its next statement instead.
pub async fn pool(url: &str, size: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect(url)
        .await
        .map_err(|e| no_server(url, e))
}

/// The error to show when the server cannot be reached: what failed and how to start one.
fn no_server(url: &str, e: sqlx::Error) -> anyhow::Error {
    anyhow!(e).context(format!(
        "could not connect to PostgreSQL at {}\n\n\
         start a server, or point DATABASE_URL (or --database-url) at a server you have",
        redact(url)
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

/// Adds which database `r` ran against to its error.
pub fn with_url<T>(r: haul::Result<T>, url: &str) -> Result<T> {
    r.with_context(|| format!("against {}", redact(url)))
}
