//! Where the suite runs: its own throwaway PostgreSQL cluster (`haul-pgtemp`: a temporary
//! folder, a free port, stopped and deleted when dropped, even on panic) when PostgreSQL's
//! binaries are installed, so restarting it disturbs no other test; else the server at
//! `DATABASE_URL`, where the restart scenario is skipped.

use crate::verify::say;
pub use haul_pgtemp::{Cluster, StopMode};
use sqlx::postgres::PgConnectOptions;

/// Prefix of the cluster folders in the temporary directory (`<prefix><pid>-<random>`).
const DIR_PREFIX: &str = "haul-chaos-pg-";

/// The database the suite runs against.
pub enum Target {
    /// Our own cluster: every scenario runs, including restarts.
    Own(Cluster),
    /// A shared server: PostgreSQL is never restarted.
    Shared(String),
}

impl Target {
    /// Starts a throwaway cluster if PostgreSQL's binaries are installed (and
    /// `HAUL_CHAOS_USE_DATABASE_URL` is not set), else uses `DATABASE_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`).
    pub fn detect() -> Self {
        if std::env::var_os("HAUL_CHAOS_USE_DATABASE_URL").is_some() {
            say("chaos: HAUL_CHAOS_USE_DATABASE_URL is set; using DATABASE_URL, restarts skipped");
            return Target::Shared(shared_url());
        }
        // many connections (three workers and the harness); fsync off: nothing here must
        // survive an OS crash, and every commit gets cheaper
        let settings = [("max_connections", "200"), ("fsync", "off")];
        match Cluster::create(DIR_PREFIX, &settings) {
            Ok(c) => {
                say(&format!(
                    "chaos: throwaway PostgreSQL cluster at {} ({})",
                    c.url(),
                    c.socket_dir().display()
                ));
                Target::Own(c)
            }
            Err(e) => {
                say(&format!("chaos: no throwaway cluster ({e}); using DATABASE_URL, restarts skipped"));
                Target::Shared(shared_url())
            }
        }
    }

    /// The database url.
    pub fn url(&self) -> &str {
        match self {
            Target::Own(c) => c.url(),
            Target::Shared(url) => url,
        }
    }

    /// The cluster, if it is ours to restart.
    pub fn cluster(&self) -> Option<&Cluster> {
        match self {
            Target::Own(c) => Some(c),
            Target::Shared(_) => None,
        }
    }
}

/// Connection options for the cluster's unix socket, which answers while TCP clients (every
/// worker) still find the server down (see [`Cluster::start_socket_only`]).
pub fn socket(cluster: &Cluster) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(cluster.socket_dir())
        .port(cluster.port())
        .username("postgres")
        .database("postgres")
}

/// `DATABASE_URL`, or the local default.
fn shared_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}
