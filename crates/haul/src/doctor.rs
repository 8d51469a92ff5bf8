//! `Client::doctor`: checks of the database a queue runs on (the server, Haul's schema and
//! indexes, the settings and sessions a queue depends on), each with what to fix.

use crate::config::{STATEMENT_TIMEOUT_DEFAULT, VACUUM_DEAD_MIN};
use crate::db::{Db, Setting};
use crate::error::{Error, Result};
use crate::migrate::{self, MIGRATIONS};
use sqlx::postgres::PgPoolOptions;

/// The oldest PostgreSQL Haul supports.
pub const SERVER_VERSION_MIN: i32 = 130_000;
/// An open transaction older than this holds back every vacuum long enough to warn about.
const OLD_TRANSACTION_S: f64 = 300.0;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// As a queue needs it.
    Ok,
    /// Works, but something will hurt later (bloat, lost jobs on a crash, a full server).
    Warn,
    /// Broken: workers or inserts fail until it is fixed.
    Fail,
}

/// One check: its name, outcome, what it saw and, unless all is well, what to do.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Check {
    /// A short name (`server`, `schema`, a setting's name, …).
    pub name: String,
    /// The outcome.
    pub health: Health,
    /// What was seen.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &str, health: Health, detail: impl Into<String>) -> Self {
        Check { name: name.to_owned(), health, detail: detail.into(), fix: None }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check [`Client::doctor`](crate::Client::doctor) ran, in order.
///
/// ```
/// # use haul::doctor::*;
/// let checkup = Checkup::default();
/// assert_eq!(checkup.worst(), Health::Ok);
/// ```
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checkup {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Checkup {
    /// The worst outcome among the checks (`Ok` when there are none).
    pub fn worst(&self) -> Health {
        self.checks.iter().map(|c| c.health).max().unwrap_or(Health::Ok)
    }
}

/// Runs every check; an error only when the server cannot be asked at all.
pub(crate) async fn checkup(db: &Db) -> Result<Checkup> {
    let mut checks = vec![server(db).await?];
    let schema = schema(db).await;
    let migrated = schema.health != Health::Fail;
    checks.push(schema);
    if migrated {
        checks.push(indexes(db).await?);
        checks.push(jobs_table(db).await?);
        checks.push(leader(db).await?);
    }
    checks.extend(settings(db).await?);
    checks.push(worker_session(db).await);
    checks.push(oldest_transaction(db).await?);
    checks.push(connections(db).await?);
    Ok(Checkup { checks })
}

async fn server(db: &Db) -> Result<Check> {
    let v = db.catalog_server().await?;
    let check = if v.version_num < SERVER_VERSION_MIN {
        Check::new("server", Health::Fail, format!("PostgreSQL {}: Haul needs 13 or newer", v.version))
            .fix("upgrade PostgreSQL")
    } else {
        Check::new("server", Health::Ok, format!("PostgreSQL {}", v.version))
    };
    Ok(check)
}

async fn schema(db: &Db) -> Check {
    let fix = format!("haul migrate up --schema {}", db.schema());
    match migrate::status(db).await {
        Ok(states) => {
            let pending: Vec<String> =
                states.iter().filter(|s| s.applied_at.is_none()).map(|s| s.version.to_string()).collect();
            let last = MIGRATIONS.last().map_or(0, |m| m.version);
            if pending.is_empty() {
                Check::new("schema", Health::Ok, format!("`{}` at migration {last}", db.schema()))
            } else if pending.len() == states.len() {
                Check::new("schema", Health::Fail, format!("`{}` has no Haul tables", db.schema())).fix(fix)
            } else {
                let detail = format!("`{}` lacks migrations {}", db.schema(), pending.join(", "));
                Check::new("schema", Health::Fail, detail).fix(fix)
            }
        }
        Err(e @ Error::SchemaTooNew { .. }) => Check::new("schema", Health::Fail, e.to_string())
            .fix("use the haul build that migrated it, or newer"),
        Err(e) => Check::new("schema", Health::Fail, e.to_string()).fix(fix),
    }
}

/// The index names the embedded migrations create, in order.
fn expected_indexes() -> Vec<String> {
    let mut names = Vec::new();
    for m in MIGRATIONS {
        let words: Vec<&str> = m.sql.split_whitespace().collect();
        for w in words.windows(6) {
            if w[0].eq_ignore_ascii_case("CREATE") && (w[1] == "INDEX" || w[2] == "INDEX") {
                let rest = if w[1] == "INDEX" { &w[2..] } else { &w[3..] };
                let rest = if rest[0] == "CONCURRENTLY" { &rest[1..] } else { rest };
                let name = if rest[0] == "IF" { rest[3] } else { rest[0] };
                names.push(name.trim_matches('"').to_owned());
            }
        }
    }
    names
}

async fn indexes(db: &Db) -> Result<Check> {
    let found = db.catalog_indexes().await?;
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for name in expected_indexes() {
        match found.iter().find(|i| i.name == name) {
            None => problems.push(format!("{name} is missing")),
            Some(i) if !i.valid => {
                problems.push(format!("{name} (on {}) is invalid", i.table_name));
                fixes.push(format!("REINDEX INDEX CONCURRENTLY \"{}\".\"{name}\"", db.schema()));
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return Ok(Check::new("indexes", Health::Ok, format!("{} present and valid", found.len())));
    }
    if fixes.is_empty() {
        fixes.push(format!("recreate them: `haul migrate print --schema {}` shows their SQL", db.schema()));
    }
    Ok(Check::new("indexes", Health::Fail, problems.join("; ")).fix(fixes.join("; ")))
}

async fn jobs_table(db: &Db) -> Result<Check> {
    let t = db.job_dead_tuples().await?;
    let detail = format!(
        "{} live rows, {} dead row versions (per the statistics), {} MiB",
        t.live,
        t.dead,
        t.bytes >> 20
    );
    if t.dead > VACUUM_DEAD_MIN && t.dead > t.live {
        let fix = "find what holds the xmin horizon (the open-transactions check), then \
                   VACUUM (ANALYZE) the jobs table; a running worker's leader does this itself";
        return Ok(Check::new("jobs table", Health::Warn, detail).fix(fix));
    }
    Ok(Check::new("jobs table", Health::Ok, detail))
}

async fn leader(db: &Db) -> Result<Check> {
    Ok(match db.leader_get().await? {
        Some(id) => Check::new("maintenance leader", Health::Ok, format!("worker {id}")),
        None => Check::new(
            "maintenance leader",
            Health::Warn,
            "none: no worker runs, so scheduled jobs, retries and rescues wait",
        )
        .fix("start a worker (it elects a leader within seconds)"),
    })
}

/// Settings a queue depends on, judged by name.
const SETTINGS: [&str; 4] =
    ["autovacuum", "track_counts", "synchronous_commit", "idle_in_transaction_session_timeout"];

async fn settings(db: &Db) -> Result<Vec<Check>> {
    let found = db.catalog_settings(&SETTINGS).await?;
    Ok(found.iter().map(judge).collect())
}

fn judge(s: &Setting) -> Check {
    let (name, value) = (s.name.as_str(), s.setting.as_str());
    let seen = format!("{name} = {value}");
    let set = |v: &str| format!("ALTER SYSTEM SET {name} = {v}; SELECT pg_reload_conf();");
    match (name, value) {
        ("track_counts", "off") => {
            Check::new(name, Health::Fail, seen + ": the leader cannot see dead rows to vacuum")
                .fix(set("on"))
        }
        ("autovacuum", "off") => {
            Check::new(name, Health::Warn, seen + ": only Haul's leader vacuums the jobs table")
                .fix(set("on"))
        }
        ("synchronous_commit", "off" | "local") => {
            Check::new(name, Health::Warn, seen + ": a server crash can lose jobs whose insert returned")
                .fix(set("on"))
        }
        ("idle_in_transaction_session_timeout", "0") => Check::new(
            name,
            Health::Warn,
            seen + ": a session left idle in a transaction holds back every vacuum for ever",
        )
        .fix(set("'10min'")),
        _ => Check::new(name, Health::Ok, seen),
    }
}

/// Whether a session opened as a worker opens its own (with the default statement timeout)
/// has the worker's settings: a pooler such as PgBouncer drops or refuses startup options.
async fn worker_session(db: &Db) -> Check {
    const NAME: &str = "worker session";
    let limit = STATEMENT_TIMEOUT_DEFAULT;
    let options = crate::db::worker_options(&db.pool().connect_options(), limit);
    let pool = PgPoolOptions::new().max_connections(1).acquire_timeout(limit).connect_lazy_with(options);
    let missing = db.for_worker(pool.clone(), limit).session_missing(None).await;
    pool.close().await;
    match missing {
        Ok(m) if m.is_empty() => {
            Check::new(NAME, Health::Ok, "statement_timeout and the planner settings arrive")
        }
        Ok(m) => Check::new(NAME, Health::Warn, format!("startup options did not arrive: {}", m.join(", ")))
            .fix(SESSION_FIX),
        Err(e) => Check::new(NAME, Health::Fail, format!("a worker connection fails: {e}"))
            .fix(format!("behind PgBouncer, add `options` to ignore_startup_parameters; then {SESSION_FIX}")),
    }
}

/// How to give worker sessions their settings when the startup options cannot carry them.
const SESSION_FIX: &str = "set them on the server's side for the worker's connections: PgBouncer's \
    connect_query on the worker's database entry, or ALTER ROLE ... SET (docs/deployment.md, PgBouncer)";

async fn oldest_transaction(db: &Db) -> Result<Check> {
    let Some(t) = db.catalog_oldest_transaction().await? else {
        return Ok(Check::new("open transactions", Health::Ok, "none but this one"));
    };
    let state = t.state.unwrap_or_default();
    let detail = format!("the oldest, pid {} ({state}), has been open {:.0} s", t.pid, t.seconds);
    if t.seconds > OLD_TRANSACTION_S {
        let fix = format!("end it if it is abandoned: SELECT pg_terminate_backend({})", t.pid);
        return Ok(Check::new("open transactions", Health::Warn, detail + ", holding back vacuum").fix(fix));
    }
    Ok(Check::new("open transactions", Health::Ok, detail))
}

async fn connections(db: &Db) -> Result<Check> {
    let c = db.catalog_connections().await?;
    let detail = format!("{} of max_connections {} in use", c.used, c.max);
    if c.used * 5 > c.max * 4 {
        let fix = "raise max_connections, shrink pools, or put PgBouncer in front";
        return Ok(Check::new("connections", Health::Warn, detail).fix(fix));
    }
    Ok(Check::new("connections", Health::Ok, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_indexes_come_from_the_migrations() {
        let names = expected_indexes();
        for name in ["jobs_fetch", "jobs_due", "jobs_lease", "jobs_finalized", "jobs_unique"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[test]
    fn settings_that_lose_jobs_or_stop_vacuum_are_flagged() {
        let s = |name: &str, setting: &str| Setting { name: name.into(), setting: setting.into() };
        assert_eq!(judge(&s("synchronous_commit", "off")).health, Health::Warn);
        assert_eq!(judge(&s("synchronous_commit", "on")).health, Health::Ok);
        assert_eq!(judge(&s("track_counts", "off")).health, Health::Fail);
        let idle = judge(&s("idle_in_transaction_session_timeout", "0"));
        assert!(idle.fix.as_deref().is_some_and(|f| f.contains("10min")), "{idle:?}");
    }
}
