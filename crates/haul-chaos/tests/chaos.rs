//! Haul's chaos suite: real `chaos-worker` processes under a steady load while workers are
//! killed (SIGKILL) and frozen (SIGSTOP) past their leases, their database connections are
//! terminated, PostgreSQL is restarted (fast and immediate), and every worker is shut down
//! mid-job. After each scenario it proves the promises: no job lost, nothing left running, no
//! finished job changed again, duplicates only from attempts a fault caught in flight (none
//! with transactional completion), and it prints how fast each recovered.
//!
//! `cargo test -p haul-chaos -- --nocapture` shows the figures; `HAUL_CHAOS_ONLY=a,d` runs
//! only those scenarios (keys: a, atx, b, c, d, e); `HAUL_CHAOS_KEEP_LOGS=1` keeps the workers'
//! logs of a passing run too; `HAUL_CHAOS_USE_DATABASE_URL=1` runs on `DATABASE_URL` instead of
//! a throwaway cluster (the restart scenario is then skipped).

#[path = "chaos/cluster.rs"]
mod cluster;
#[path = "chaos/fleet.rs"]
mod fleet;
#[path = "chaos/scenarios.rs"]
mod scenarios;
#[path = "chaos/store.rs"]
mod store;
#[path = "chaos/tracker.rs"]
mod tracker;
#[path = "chaos/verify.rs"]
mod verify;

use cluster::Target;
use scenarios::{Chaos, Env, Scenario};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use verify::say;

/// Longest one scenario may take, all waits included, before it counts as failed.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_suite() {
    let started = Instant::now();
    let target = tokio::task::block_in_place(Target::detect);
    let logs = std::env::temp_dir().join(format!("haul-chaos-logs-{}", std::process::id()));
    let env = Env { target, exe: PathBuf::from(env!("CARGO_BIN_EXE_chaos-worker")), logs };
    let mut failed = Vec::new();
    let mut ran = 0;
    for scenario in scenarios::all().iter().filter(|s| selected(s)) {
        if scenario.chaos == Chaos::Restart && env.target.cluster().is_none() {
            say(&format!(
                "chaos {}: SKIPPED (no throwaway cluster: a shared server is never restarted)",
                scenario.title
            ));
            continue;
        }
        ran += 1;
        if let Err(e) = run_one(&env, scenario).await {
            say(&format!("chaos {} [{}] FAILED: {e}", scenario.title, scenario.mode.as_str()));
            failed.push(scenario.key);
        }
    }
    say(&format!("chaos: {ran} scenarios, {} failed, in {}", failed.len(), verify::secs(started.elapsed())));
    if failed.is_empty() && std::env::var_os("HAUL_CHAOS_KEEP_LOGS").is_none() {
        let _ = std::fs::remove_dir_all(&env.logs);
    } else {
        say(&format!("chaos: worker logs kept in {}", env.logs.display()));
    }
    assert!(failed.is_empty(), "chaos scenarios failed: {failed:?}");
}

/// One scenario under [`SCENARIO_LIMIT`].
async fn run_one(env: &Env, scenario: &Scenario) -> anyhow::Result<String> {
    match tokio::time::timeout(SCENARIO_LIMIT, scenarios::run(env, scenario)).await {
        Ok(result) => result.map_err(|e| anyhow::anyhow!("{e:#}")),
        Err(_) => anyhow::bail!("did not finish within {SCENARIO_LIMIT:?}"),
    }
}

/// Whether `HAUL_CHAOS_ONLY` (comma-separated keys) selects the scenario; all when unset.
fn selected(scenario: &Scenario) -> bool {
    match std::env::var("HAUL_CHAOS_ONLY") {
        Ok(keys) if !keys.trim().is_empty() => keys.split(',').any(|k| k.trim() == scenario.key),
        _ => true,
    }
}
