//! The demo's server: the one at the URL, or where none answers and PostgreSQL is installed,
//! a throwaway one in a temporary folder (stopped and deleted when the demo ends).

use crate::connect;
use anyhow::{Result, anyhow};

/// A pool on the server at `url`, or on a throwaway server kept alive by the returned cluster.
pub async fn connect_or_throwaway(url: &str) -> Result<(sqlx::PgPool, Option<haul_pgtemp::Cluster>)> {
    let e = match connect::connect(url, 20).await {
        Ok(pool) => return Ok((pool, None)),
        Err(e) if e.is_unreachable() => e,
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "No PostgreSQL answers at {}; trying a throwaway server in a temporary folder...",
        connect::redact(url)
    );
    let server = haul_pgtemp::Cluster::create("haul-demo-pg-", &[])
        .map_err(|start| anyhow!("{e}\n\n(the throwaway server did not start either: {start:#})"))?;
    eprintln!(
        "Started a throwaway PostgreSQL at {} (stopped and deleted when the demo ends)\n",
        server.url()
    );
    Ok((connect::pool(server.url(), 20).await?, Some(server)))
}
