//! The worker's session settings: `statement_timeout` and the planner settings of
//! [`WORKER_SESSION`], sent as startup options on every worker connection, and read back to
//! tell whether they arrived. A transaction pooler such as PgBouncer cannot pass startup
//! options on; behind one they must be set on the server's side. Also the warming of a new
//! worker's connections, so its first jobs do not wait for sessions to open.

use super::{Db, Setting, WORKER_SESSION};
use crate::error::{Error, Result};
use futures_util::future::try_join_all;
use sqlx::postgres::PgConnectOptions;
use std::time::Duration;

/// `base` with the worker's session settings as startup options.
pub(crate) fn worker_options(base: &PgConnectOptions, statement_timeout: Duration) -> PgConnectOptions {
    let timeout_ms = statement_timeout.as_millis().to_string();
    base.clone().options([("statement_timeout", timeout_ms.as_str())]).options(WORKER_SESSION)
}

/// What a worker session should show in `pg_settings`: the planner settings, and
/// `statement_timeout` in ms (with `None`, any limit but none).
fn wanted(statement_timeout: Option<Duration>) -> Vec<(&'static str, Option<String>)> {
    let mut wanted: Vec<_> = WORKER_SESSION.iter().map(|(name, v)| (*name, Some((*v).to_owned()))).collect();
    wanted.push(("statement_timeout", statement_timeout.map(|t| t.as_millis().to_string())));
    wanted
}

/// Each wanted setting `seen` lacks, as `name = seen (wanted value)`.
fn missing(wanted: &[(&str, Option<String>)], seen: &[Setting]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, want) in wanted {
        let got = seen.iter().find(|s| s.name == *name).map_or("unknown", |s| s.setting.as_str());
        match want {
            Some(w) if got != w => out.push(format!("{name} = {got} (wanted {w})")),
            None if got == "0" => out.push(format!("{name} = 0 (wanted a limit)")),
            _ => {}
        }
    }
    out
}

impl Db {
    /// The worker session settings this handle's sessions lack (empty when all arrived);
    /// `statement_timeout` is the limit wanted, `None` for any.
    pub(crate) async fn session_missing(&self, statement_timeout: Option<Duration>) -> Result<Vec<String>> {
        let wanted = wanted(statement_timeout);
        let names: Vec<&str> = wanted.iter().map(|(name, _)| *name).collect();
        Ok(missing(&wanted, &self.catalog_settings(&names).await?))
    }

    /// Opens `n` of the pool's connections at once and, on each, runs the claim of `queue`
    /// and the completions (`keep`: the kind that keeps rows) of jobs in each rotating slot, for
    /// no jobs. A worker's first pickups then find sessions open, their statements prepared and
    /// their backends' caches filled, instead of paying for them.
    pub(crate) async fn warm(&self, queue: &str, keep: bool, n: usize) -> Result<()> {
        let conns = try_join_all((0..n).map(|_| self.pool.acquire())).await.map_err(|e| self.err(e))?;
        try_join_all(conns.into_iter().map(|mut conn| async move {
            self.job_claim_nothing(&mut conn, queue).await?;
            for slot in [1, 2] {
                self.job_complete_many(&mut *conn, &[], &[], &[slot], keep).await?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{drop_test_schema, test_db};

    /// Every statement `warm` runs succeeds on each connection, which then stays in the pool
    /// with them prepared: a failed one would end `warm` early and cost its connection.
    #[tokio::test]
    async fn warming_prepares_the_first_statements_and_keeps_the_connections() {
        let (pool, db, schema) = test_db("warm").await;
        for keep in [false, true] {
            db.warm("default", keep, 2).await.expect("warm");
        }
        // the pool holds two: both must be the warmed ones, a replaced one has nothing prepared
        let (mut a, mut b) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        for conn in [&mut a, &mut b] {
            let sql = "SELECT count(*) FROM pg_prepared_statements";
            let prepared: i64 = sqlx::query_scalar(sql).fetch_one(&mut **conn).await.unwrap();
            // two claims, and the completions of slots 1 and 2 of each kind
            assert!(prepared >= 6, "{prepared} statements prepared");
        }
        drop((a, b));
        drop_test_schema(&pool, &schema).await;
    }

    fn seen(pairs: &[(&str, &str)]) -> Vec<Setting> {
        pairs.iter().map(|(n, s)| Setting { name: (*n).into(), setting: (*s).into() }).collect()
    }

    #[test]
    fn a_session_with_the_startup_options_lacks_nothing() {
        let on = seen(&[
            ("enable_seqscan", "off"),
            ("enable_bitmapscan", "off"),
            ("enable_nestloop", "off"),
            ("plan_cache_mode", "force_generic_plan"),
            ("statement_timeout", "10000"),
        ]);
        assert!(missing(&wanted(Some(Duration::from_secs(10))), &on).is_empty());
        assert!(missing(&wanted(None), &on).is_empty());
    }

    #[test]
    fn a_session_whose_options_were_dropped_lacks_each_of_them() {
        let plain = seen(&[
            ("enable_seqscan", "on"),
            ("enable_bitmapscan", "on"),
            ("enable_nestloop", "off"),
            ("plan_cache_mode", "force_generic_plan"),
            ("statement_timeout", "0"),
        ]);
        assert_eq!(
            missing(&wanted(Some(Duration::from_secs(10))), &plain),
            [
                "enable_seqscan = on (wanted off)",
                "enable_bitmapscan = on (wanted off)",
                "statement_timeout = 0 (wanted 10000)"
            ]
        );
        assert_eq!(missing(&wanted(None), &plain).last().unwrap(), "statement_timeout = 0 (wanted a limit)");
    }
}
