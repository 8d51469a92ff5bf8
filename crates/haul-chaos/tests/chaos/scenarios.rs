//! The scenarios: each on a fresh schema with three worker processes and a steady feed of a
//! few thousand jobs, one kind of fault played on a fixed schedule, then the same checks
//! (see `verify`). Fixed sleeps here are only the chaos schedule ("kill a worker every
//! 800 ms"); every wait for an outcome polls the database.

use crate::cluster::{self, StopMode, Target};
use crate::fleet::{Fleet, FleetConfig};
use crate::store::{self, Attempt, FinishedRow, Store};
use crate::tracker::{Faults, Tracker};
use crate::verify::{Tally, changed, ids, say, secs};
use anyhow::{Result, anyhow, bail};
use haul_chaos::{LEASE, Mode, RESCUER, WorkerReport};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Worker processes per scenario.
const WORKERS: usize = 3;
/// Scenario (a): workers killed, one every [`KILL_EVERY`].
const KILLS: usize = 6;
/// Scenario (a): the kill schedule.
const KILL_EVERY: Duration = Duration::from_millis(800);
/// Scenario (b): rounds of backend terminations, one every [`TERMINATE_EVERY`].
const TERMINATIONS: usize = 8;
/// Scenario (b): the termination schedule.
const TERMINATE_EVERY: Duration = Duration::from_millis(600);
/// Scenario (e): jobs that outlast the shutdown's soft and hard timeouts (3 s) by far.
const LONG_JOBS: usize = 30;
/// Scenario (e): how long each long job works.
const LONG_WORK_MS: u64 = 8000;
/// How long a frozen worker's statements already sent may take to land.
const IDLE_LIMIT: Duration = Duration::from_millis(500);
/// How long a killed worker's backends may take to finish their statements and exit.
const GONE_LIMIT: Duration = Duration::from_secs(5);
/// Scenario (f): the longest a killed process's jobs may stay running, leader or not: its
/// leases lapse within a lease, a new leader is elected within its lease (which follows the
/// job lease) and rescues at once, and a rescuer tick and a little slack follow.
const RESCUE_LIMIT: Duration = Duration::from_millis(2 * 1000 + 250 + 250);

/// What the suite runs on, shared by every scenario.
pub struct Env {
    /// The database.
    pub target: Target,
    /// The `chaos-worker` binary.
    pub exe: PathBuf,
    /// Folder for the workers' logs.
    pub logs: PathBuf,
}

/// The fault a scenario plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chaos {
    /// (a) SIGKILL random workers, restarting each.
    Kill,
    /// (b) terminate the workers' backends.
    Terminate,
    /// (c) restart PostgreSQL (fast, then immediate).
    Restart,
    /// (d) SIGSTOP a worker past its lease, then SIGCONT it.
    Freeze,
    /// (e) SIGTERM every worker while long jobs run, then restart them.
    Shutdown,
    /// (f) SIGKILL the leader mid-job, then a worker that does not lead.
    KillLeader,
}

/// One scenario's settings.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name, used in schema names and `HAUL_CHAOS_ONLY`.
    pub key: &'static str,
    /// Title in the figures line.
    pub title: &'static str,
    /// How handlers record executions.
    pub mode: Mode,
    /// The fault.
    pub chaos: Chaos,
    /// Jobs fed.
    pub jobs: usize,
    /// Over how long.
    pub feed_over: Duration,
    /// What bounds the duplicates, in words.
    pub bound: &'static str,
}

/// Every scenario, in the order the suite runs them.
pub fn all() -> Vec<Scenario> {
    let s = |key, title, mode, chaos, jobs, feed_secs, bound| Scenario {
        key,
        title,
        mode,
        chaos,
        jobs,
        feed_over: Duration::from_secs(feed_secs),
        bound,
    };
    vec![
        s("a", "(a) kill -9", Mode::Plain, Chaos::Kill, 3000, 6, "attempts in flight on killed workers"),
        s("atx", "(a) kill -9", Mode::Tx, Chaos::Kill, 3000, 6, "attempts were in flight on killed workers"),
        s(
            "b",
            "(b) backends terminated",
            Mode::Plain,
            Chaos::Terminate,
            3000,
            6,
            "attempts in flight at terminations",
        ),
        s(
            "c",
            "(c) PostgreSQL restarted",
            Mode::Plain,
            Chaos::Restart,
            3000,
            7,
            "attempts in flight at the restarts",
        ),
        s(
            "d",
            "(d) SIGSTOP past the lease",
            Mode::Plain,
            Chaos::Freeze,
            3000,
            7,
            "attempts in flight on frozen workers",
        ),
        s(
            "e",
            "(e) shutdown mid-job",
            Mode::Plain,
            Chaos::Shutdown,
            2000,
            3,
            "attempts in flight at shutdown",
        ),
        s(
            "f",
            "(f) leader killed",
            Mode::Plain,
            Chaos::KillLeader,
            2000,
            5,
            "attempts in flight on killed workers",
        ),
    ]
}

/// Runs one scenario on a schema of its own (dropped afterwards); returns its figures line.
pub async fn run(env: &Env, scenario: &Scenario) -> Result<String> {
    let store = Store::create(env.target.url(), scenario.key).await?;
    let result = drive(env, scenario, store.clone()).await;
    store.drop_schema().await;
    result
}

/// Starts the workers and the recovery tracker, plays the scenario, and on failure appends
/// the tails of the workers' logs.
async fn drive(env: &Env, scenario: &Scenario, store: Store) -> Result<String> {
    let cfg = FleetConfig {
        exe: env.exe.clone(),
        url: env.target.url().to_owned(),
        schema: store.schema().to_owned(),
        mode: scenario.mode,
        prefix: worker_prefix(scenario.key, store.schema()),
        logs: env.logs.join(store.schema()),
    };
    let fleet = Fleet::start(cfg, WORKERS)?;
    let (tracker, poller) = Tracker::start(store.clone());
    let mut run = Run {
        env,
        scenario,
        store,
        fleet,
        tracker: tracker.clone(),
        known: Vec::new(),
        pinned: Vec::new(),
        stale_outcomes: Vec::new(),
        hit: HashSet::new(),
        killed: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
    };
    let outcome = run.play(poller).await;
    tracker.stop();
    outcome.map_err(|e| anyhow!("{e:#}\nworker logs:\n{}", run.fleet.log_tails(15)))
}

/// Worker ids are `<key>-<the schema's random suffix>-w<slot>-g<generation>`: short, and
/// unique even among suites sharing a server (they are also `application_name`s).
fn worker_prefix(key: &str, schema: &str) -> String {
    format!("{key}-{}", schema.rsplit('_').next().unwrap_or(schema))
}

/// One scenario in progress.
struct Run<'a> {
    /// Where it runs.
    env: &'a Env,
    /// What it plays.
    scenario: &'a Scenario,
    /// Its schema.
    store: Store,
    /// Its workers.
    fleet: Fleet,
    /// Its faults and their recovery.
    tracker: Tracker,
    /// Ids enqueued besides the feeder's.
    known: Vec<i64>,
    /// Rows that must not change from the moment they were read to the end.
    pinned: Vec<FinishedRow>,
    /// (worker, n): a thawed worker must see at least n of its outcomes refused by the fence.
    stale_outcomes: Vec<(String, usize)>,
    /// Workers a fault hit (killed or frozen): the only ones jobs may be rescued from.
    hit: HashSet<String>,
    /// Workers killed.
    killed: Vec<String>,
    /// Extra figures for the line.
    notes: Vec<String>,
    /// Broken promises found along the way.
    problems: Vec<String>,
}

impl Run<'_> {
    /// Feed, play the fault, wait for every job, check; returns the figures line.
    async fn play(&mut self, poller: JoinHandle<()>) -> Result<String> {
        let known = self.load_and_fault().await?;
        let faults = self.recover(poller).await?;
        self.judge(&known, &faults).await
    }

    /// Feeds the jobs while the scenario's fault plays; returns every id enqueued.
    async fn load_and_fault(&mut self) -> Result<Vec<i64>> {
        let feeder = store::feed(self.store.clone(), self.scenario.jobs, self.scenario.feed_over);
        match self.scenario.chaos {
            Chaos::Kill => self.kill_nine().await?,
            Chaos::Terminate => self.terminate_backends().await?,
            Chaos::Restart => self.restart_postgres().await?,
            Chaos::Freeze => self.freeze_past_lease().await?,
            Chaos::Shutdown => self.shut_down_mid_job().await?,
            Chaos::KillLeader => self.kill_leader_then_worker().await?,
        }
        let mut known = feeder.await??;
        known.append(&mut self.known);
        Ok(known)
    }

    /// Waits until every job is completed; returns the faults with their recovery times.
    async fn recover(&mut self, poller: JoinHandle<()>) -> Result<Faults> {
        self.store.until("every job completed", async |s| Ok(s.census().await?.all_completed())).await?;
        // a dead worker claims nothing: every attempt rescued from it was in flight when it died
        // (this covers statements still in flight in the server if its backends outlived the wait)
        for worker in &self.killed {
            self.tracker.also_in_flight(&self.store.rescued_from(worker).await?);
        }
        Ok(self.tracker.clone().finish(poller, &self.store).await)
    }

    /// Lets the workers run on, stops them, checks every promise and prints the figures line.
    async fn judge(&mut self, known: &[i64], faults: &Faults) -> Result<String> {
        let refinalized = self.settle().await?;
        let reports = self.fleet.stop_all().await?;
        self.check_stale_outcomes(&reports);
        self.check_rescues().await?;
        let mut tally = Tally::read(&self.store, known, faults).await?;
        let pinned: Vec<i64> = self.pinned.iter().map(|r| r.id).collect();
        tally.refinalized = refinalized + changed(&self.pinned, &self.store.finished(Some(&pinned)).await?);
        let mut line = tally.line(self.scenario.title, self.scenario.mode, self.scenario.bound, faults);
        if !self.notes.is_empty() {
            line = format!("{line}; {}", self.notes.join("; "));
        }
        say(&line);
        say(&format!("    faults: {}", faults.detail()));
        let mut problems = tally.problems(self.scenario.mode);
        if self.scenario.chaos == Chaos::KillLeader {
            problems.extend(slow_rescues(faults));
        }
        problems.append(&mut self.problems);
        if !problems.is_empty() {
            bail!("{line}\nbroken: {}", problems.join("; "));
        }
        Ok(line)
    }

    /// Lets the workers run on for two leases and a rescuer tick after the last job finished:
    /// a stale outcome or a wrong rescue would change a finished row. Returns how many changed.
    async fn settle(&self) -> Result<usize> {
        let before = self.store.finished(None).await?;
        tokio::time::sleep(2 * LEASE + RESCUER).await;
        let after = self.store.finished(None).await?;
        Ok(changed(&before, &after))
    }

    /// A thawed worker's outcomes for the attempts rescued from it must all have been refused.
    fn check_stale_outcomes(&mut self, reports: &[WorkerReport]) {
        for (worker, n) in &self.stale_outcomes {
            let refused = reports.iter().find(|r| &r.worker == worker).map_or(0, |r| r.rejected);
            self.notes
                .push(format!("{worker} thawed: {refused} stale outcomes fenced away (of {n} rescued)"));
            if refused < *n as u64 {
                self.problems.push(format!("{worker}: only {refused} of {n} stale outcomes were refused"));
            }
        }
    }

    /// Jobs are rescued only from workers a fault hit: a live worker's job is never stolen.
    /// (Terminations and restarts hit every worker: any rescue is theirs to cause.)
    async fn check_rescues(&mut self) -> Result<()> {
        let rescues = self.store.rescues().await?;
        let every_worker_hit = matches!(self.scenario.chaos, Chaos::Terminate | Chaos::Restart);
        let stolen: Vec<_> = rescues
            .iter()
            .filter(|(_, _, from)| !every_worker_hit && from.as_ref().is_some_and(|w| !self.hit.contains(w)))
            .collect();
        let unnamed = rescues.iter().filter(|(_, _, from)| from.is_none()).count();
        self.notes.push(format!("{} attempts rescued, {} from live workers", rescues.len(), stolen.len()));
        if unnamed > 0 {
            self.notes.push(format!("{unnamed} rescues name no worker (message format changed?)"));
        }
        if !stolen.is_empty() {
            let first: Vec<_> = stolen.iter().take(5).collect();
            self.problems.push(format!("{} attempts stolen from live workers, e.g. {first:?}", stolen.len()));
        }
        Ok(())
    }

    /// Freezes the worker in `slot` (SIGSTOP), waits until its last statements have landed,
    /// and reads the attempts it holds: exactly those the fault catches in flight.
    async fn freeze_and_read(&self, slot: usize) -> Result<Vec<Attempt>> {
        let id = self.fleet.id(slot)?;
        self.fleet.freeze(slot)?;
        self.store.wait_idle(&id, IDLE_LIMIT).await?;
        self.store.running(Some(&[id])).await
    }

    /// (a) Every [`KILL_EVERY`], a random worker is killed with SIGKILL and replaced.
    async fn kill_nine(&mut self) -> Result<()> {
        for _ in 0..KILLS {
            tokio::time::sleep(KILL_EVERY).await;
            self.kill_slot(fastrand::usize(..self.fleet.len()), "").await?;
        }
        Ok(())
    }

    /// SIGKILLs the worker in `slot`, records the attempts it caught, and replaces it.
    async fn kill_slot(&mut self, slot: usize, role: &str) -> Result<()> {
        let id = self.fleet.id(slot)?;
        let at = Instant::now();
        self.fleet.kill(slot).await?;
        // once its backends are gone, the dead worker's running rows are final: exactly the
        // attempts the kill caught in flight
        self.store.wait_gone(&id, GONE_LIMIT).await?;
        let in_flight = self.store.running(Some(std::slice::from_ref(&id))).await?;
        self.tracker.record(format!("kill -9 {role}{id}"), at, &in_flight);
        self.killed.push(id.clone());
        self.hit.insert(id);
        self.fleet.spawn(slot)
    }

    /// (f) The leader killed mid-job, then (once a new leader is elected) a worker that does
    /// not lead: each one's jobs must stop running within [`RESCUE_LIMIT`] of its kill.
    async fn kill_leader_then_worker(&mut self) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let leader = self.leader_slot().await?;
        self.kill_slot(leader, "leader ").await?;
        let fleet = &self.fleet;
        let moved = async |s: &Store| Ok(s.leader().await?.and_then(|id| fleet.slot_of(&id)).is_some());
        self.store.until("a new leader elected", moved).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let leader = self.leader_slot().await?;
        self.kill_slot((leader + 1) % self.fleet.len(), "").await
    }

    async fn leader_slot(&self) -> Result<usize> {
        let leader = self.store.leader().await?.and_then(|id| self.fleet.slot_of(&id));
        leader.ok_or_else(|| anyhow!("no live worker leads"))
    }

    /// (b) Every [`TERMINATE_EVERY`], every backend of every worker is terminated.
    async fn terminate_backends(&mut self) -> Result<()> {
        let mut terminated = 0;
        for _ in 0..TERMINATIONS {
            tokio::time::sleep(TERMINATE_EVERY).await;
            let at = Instant::now();
            let (in_flight, n) = self.store.terminate(&self.fleet.ids()).await?;
            terminated += n;
            self.tracker.record(format!("{n} backends terminated"), at, &in_flight);
        }
        self.notes.push(format!("{terminated} backends terminated in {TERMINATIONS} rounds"));
        if terminated < TERMINATIONS as i64 {
            self.problems
                .push(format!("only {terminated} backends found to terminate in {TERMINATIONS} rounds"));
        }
        Ok(())
    }

    /// (c) PostgreSQL restarted under load: `-m fast` at once, and once the jobs it caught are
    /// done, `-m immediate` (crash recovery) kept down past the lease, so every lease lapses
    /// and the rescuer races the workers' retried completions when it is back. The attempts
    /// caught are read from the restarted server before any worker can reach it.
    async fn restart_postgres(&mut self) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.restart_once(StopMode::Fast, Duration::ZERO).await?;
        let tracker = self.tracker.clone();
        self.store.until("the fast restart's jobs completed", async |_| Ok(tracker.all_healed())).await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        self.restart_once(StopMode::Immediate, 2 * LEASE).await
    }

    /// Stops the server, keeps it down `down`, then brings it back on its socket only to read
    /// the attempts the stop left running (exactly those caught in flight: nothing could change
    /// them since), and restarts it for everyone. Workers see one outage of the whole span.
    async fn restart_once(&mut self, mode: StopMode, down: Duration) -> Result<()> {
        let cluster =
            self.env.target.cluster().ok_or_else(|| anyhow!("restarts need the throwaway cluster"))?;
        let at = Instant::now();
        tokio::task::block_in_place(|| cluster.stop(mode))?;
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| cluster.start_socket_only())?;
        let in_flight = self.store.running_via(&cluster::socket(cluster)).await;
        tokio::task::block_in_place(|| cluster.stop(StopMode::Fast).and_then(|()| cluster.start()))?;
        let in_flight = in_flight?;
        let took = at.elapsed();
        self.tracker.record(format!("pg restart -m {}", mode.as_str()), at, &in_flight);
        self.notes.push(format!("-m {} restart: down {}", mode.as_str(), secs(took)));
        Ok(())
    }

    /// (d) The leader, then another worker, frozen past their leases: their jobs are rescued
    /// and completed elsewhere; thawed, their late outcomes must change nothing.
    async fn freeze_past_lease(&mut self) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let leader = self.store.leader().await?.and_then(|id| self.fleet.slot_of(&id));
        let first = leader.unwrap_or(0);
        self.freeze_until_rescued(first, leader.is_some()).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let other = (first + 1 + fastrand::usize(..self.fleet.len() - 1)) % self.fleet.len();
        self.freeze_until_rescued(other, false).await
    }

    /// Freezes the worker in `slot` until every job it held was completed by another worker
    /// (necessarily after its lease lapsed), pins those rows, then thaws it.
    async fn freeze_until_rescued(&mut self, slot: usize, leader: bool) -> Result<()> {
        let id = self.fleet.id(slot)?;
        let at = Instant::now();
        let in_flight = self.freeze_and_read(slot).await?;
        self.tracker.record(format!("SIGSTOP {id}"), at, &in_flight);
        let done = async |s: &Store| {
            let (elsewhere, sent, through_fence) = s.completed_after(&in_flight).await?;
            Ok(elsewhere + sent + through_fence == in_flight.len() as i64)
        };
        self.store.until("a frozen worker's jobs completed elsewhere", done).await?;
        if in_flight.is_empty() {
            tokio::time::sleep(2 * LEASE).await; // nothing to watch: still freeze past a lease
        }
        let (_, sent, through_fence) = self.store.completed_after(&in_flight).await?;
        if through_fence > 0 {
            self.problems
                .push(format!("{through_fence} rescued attempts of frozen {id} completed their jobs"));
        }
        self.pinned.extend(self.store.finished(Some(&ids(&in_flight))).await?);
        // a claim it had sent just before freezing may land after the harness looked: its
        // rescue names this worker, and it counts as caught in flight too
        self.tracker.also_in_flight(&self.store.rescued_from(&id).await?);
        let frozen = at.elapsed();
        self.fleet.thaw(slot)?;
        let role = if leader { "leader " } else { "" };
        let landed =
            if sent > 0 { format!(" ({sent} completions it had sent landed)") } else { String::new() };
        self.notes.push(format!(
            "{role}{id} frozen {} holding {} jobs{landed}",
            secs(frozen),
            in_flight.len()
        ));
        self.stale_outcomes.push((id.clone(), in_flight.len() - sent as usize));
        self.hit.insert(id);
        Ok(())
    }

    /// (e) Long jobs running, every worker gets SIGTERM: afterwards nothing is running, and
    /// every unfinished job is back to `available` with its attempt given back. Then new
    /// workers finish them.
    async fn shut_down_mid_job(&mut self) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let long = self.store.insert_urgent(LONG_JOBS, LONG_WORK_MS).await?;
        let n = long.len() as i64;
        self.store.until("every long job running", async |s| Ok(s.running_among(&long).await? == n)).await?;
        let in_flight = self.store.running(None).await?;
        let at = Instant::now();
        // recorded first, so the tracker sees the releases before new workers claim them again
        self.tracker.record("SIGTERM to every worker", at, &in_flight);
        let reports = self.fleet.stop_all().await?;
        let took = at.elapsed();
        self.check_released(&in_flight, &long, &reports, took).await?;
        self.known.extend(long);
        for slot in 0..self.fleet.len() {
            self.fleet.spawn(slot)?;
        }
        Ok(())
    }

    /// After the shutdown: nothing running; every released row (`available` after an attempt
    /// started) has its attempt given back (no more attempts than errors); the workers' reports
    /// count exactly those rows; each attempt in flight finished or was released; and every
    /// long job was released.
    async fn check_released(
        &mut self,
        in_flight: &[Attempt],
        long: &[i64],
        reports: &[WorkerReport],
        took: Duration,
    ) -> Result<()> {
        let running = self.store.census().await?.running;
        if running > 0 {
            self.problems.push(format!("{running} rows left running after the shutdown"));
        }
        let released = self.store.released().await?;
        for (id, attempt, errors) in &released {
            if i32::from(*attempt) != *errors {
                self.problems.push(format!("job {id} released at attempt {attempt} with {errors} errors"));
            }
        }
        let reported: usize = reports.iter().map(|r| r.released).sum();
        if reported != released.len() {
            self.problems
                .push(format!("workers reported {reported} releases, the table shows {}", released.len()));
        }
        let released: HashSet<i64> = released.iter().map(|(id, _, _)| *id).collect();
        let mut finished = 0;
        for (id, was, state, now) in self.store.fate(in_flight).await? {
            match state.as_str() {
                "completed" if now == was => finished += 1,
                "available" if now == was - 1 && released.contains(&id) => {}
                _ => self
                    .problems
                    .push(format!("job {id} (attempt {was} at shutdown) ended {state} at attempt {now}")),
            }
        }
        let kept = long.iter().filter(|id| !released.contains(id)).count();
        if kept > 0 {
            self.problems.push(format!("{kept} long jobs were not released by the shutdown"));
        }
        self.notes.push(format!(
            "shutdown took {}: {finished} jobs finished, {} released to available with their attempt given back",
            secs(took),
            released.len()
        ));
        Ok(())
    }
}

/// Faults whose caught attempts stayed running past [`RESCUE_LIMIT`].
fn slow_rescues(faults: &Faults) -> Vec<String> {
    let slow = faults.list.iter().filter(|f| !f.attempts.is_empty());
    let slow = slow.filter(|f| f.ended.is_none_or(|t| t > RESCUE_LIMIT));
    slow.map(|f| {
        format!("{}: its jobs stopped running only after {:?} (limit {RESCUE_LIMIT:?})", f.what, f.ended)
    })
    .collect()
}
