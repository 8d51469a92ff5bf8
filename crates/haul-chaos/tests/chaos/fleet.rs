//! The worker processes of one scenario, by slot: started, frozen, thawed, killed, restarted
//! (under a new id) and stopped. Every child is SIGKILLed when the fleet is dropped, so a
//! failing or panicking scenario leaves no process behind.

use anyhow::{Context, Result, bail};
use haul_chaos::{Mode, WorkerReport};
use rustix::process::{Pid, Signal, kill_process};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, Command};

/// Longest a worker may take to exit after SIGTERM (its shutdown takes about 4 s at most).
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// What every worker of a fleet is started with.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The `chaos-worker` binary.
    pub exe: PathBuf,
    /// The database url.
    pub url: String,
    /// Haul's schema.
    pub schema: String,
    /// How handlers record executions.
    pub mode: Mode,
    /// Worker ids are `<prefix>-w<slot>-g<generation>`.
    pub prefix: String,
    /// Folder for the workers' logs (one file per worker id).
    pub logs: PathBuf,
}

/// One running worker process.
struct Proc {
    /// The worker's id.
    id: String,
    /// The process.
    child: Child,
    /// Its pid, for signals.
    pid: Pid,
    /// The worker exits when this pipe closes, so none outlives a harness that was killed.
    /// Held apart from `child` because `Child::wait` closes the child's own handle first.
    _stdin: Option<ChildStdin>,
}

/// A slot: the generation count and the current process, if any.
#[derive(Default)]
struct Slot {
    generation: u32,
    proc: Option<Proc>,
}

/// The workers of one scenario.
pub struct Fleet {
    cfg: FleetConfig,
    slots: Vec<Slot>,
    /// Every worker id ever started, in order (for the logs).
    started: Vec<String>,
}

impl Fleet {
    /// Starts `n` workers.
    pub fn start(cfg: FleetConfig, n: usize) -> Result<Self> {
        std::fs::create_dir_all(&cfg.logs)?;
        let slots = (0..n).map(|_| Slot::default()).collect();
        let mut fleet = Fleet { cfg, slots, started: Vec::new() };
        for slot in 0..n {
            fleet.spawn(slot)?;
        }
        Ok(fleet)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The id of the worker in `slot`.
    pub fn id(&self, slot: usize) -> Result<String> {
        Ok(self.proc(slot)?.id.clone())
    }

    /// The ids of every live worker.
    pub fn ids(&self) -> Vec<String> {
        self.slots.iter().filter_map(|s| s.proc.as_ref().map(|p| p.id.clone())).collect()
    }

    /// The slot whose worker has this id.
    pub fn slot_of(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.proc.as_ref().is_some_and(|p| p.id == id))
    }

    /// Starts a new worker (a new generation, so a new id) in an empty slot.
    pub fn spawn(&mut self, slot: usize) -> Result<()> {
        let s = &mut self.slots[slot];
        if s.proc.is_some() {
            bail!("slot {slot} already has a worker");
        }
        s.generation += 1;
        let id = format!("{}-w{slot}-g{}", self.cfg.prefix, s.generation);
        let log = std::fs::File::create(self.cfg.logs.join(format!("{id}.log")))?;
        let mut child = Command::new(&self.cfg.exe)
            .args(["--url", &self.cfg.url, "--schema", &self.cfg.schema, "--id", &id])
            .args(["--mode", self.cfg.mode.as_str(), "--exit-on-stdin-eof"])
            .env("RUST_LOG", std::env::var("CHAOS_WORKER_LOG").unwrap_or_else(|_| "warn,haul=info".into()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.cfg.exe.display()))?;
        let raw = child.id().context("a just-started worker has a pid")?;
        let pid = Pid::from_raw(raw as i32).context("pid")?;
        self.started.push(id.clone());
        let stdin = child.stdin.take();
        s.proc = Some(Proc { id, child, pid, _stdin: stdin });
        Ok(())
    }

    /// SIGSTOP: the worker freezes at once, mid-whatever it was doing.
    pub fn freeze(&self, slot: usize) -> Result<()> {
        self.signal(slot, Signal::STOP)
    }

    /// SIGCONT: a frozen worker carries on as if nothing happened.
    pub fn thaw(&self, slot: usize) -> Result<()> {
        self.signal(slot, Signal::CONT)
    }

    /// SIGKILL, then reaps the process; the slot is empty afterwards.
    pub async fn kill(&mut self, slot: usize) -> Result<()> {
        let mut p = self.slots[slot].proc.take().with_context(|| format!("slot {slot} is empty"))?;
        p.child.start_kill()?;
        tokio::time::timeout(STOP_LIMIT, p.child.wait()).await.context("a killed worker did not exit")??;
        Ok(())
    }

    /// SIGTERM to every worker at once, then waits for each to exit cleanly and print its
    /// report. The slots are empty afterwards.
    pub async fn stop_all(&mut self) -> Result<Vec<WorkerReport>> {
        for slot in 0..self.slots.len() {
            if self.slots[slot].proc.is_some() {
                self.signal(slot, Signal::TERM)?;
            }
        }
        let mut reports = Vec::new();
        for slot in 0..self.slots.len() {
            if let Some(p) = self.slots[slot].proc.take() {
                reports.push(self.reap(p).await?);
            }
        }
        Ok(reports)
    }

    /// Waits for a signalled worker to exit and reads its report.
    async fn reap(&self, mut p: Proc) -> Result<WorkerReport> {
        let status = match tokio::time::timeout(STOP_LIMIT, p.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                bail!("worker {} did not stop within {STOP_LIMIT:?}:\n{}", p.id, self.log_tail(&p.id, 20))
            }
        };
        let mut out = String::new();
        if let Some(mut stdout) = p.child.stdout.take() {
            stdout.read_to_string(&mut out).await?;
        }
        if !status.success() {
            bail!("worker {} exited with {status}:\n{}", p.id, self.log_tail(&p.id, 20));
        }
        let line = out.lines().last().with_context(|| format!("worker {} printed no report", p.id))?;
        serde_json::from_str(line).with_context(|| format!("worker {}'s report: {line}", p.id))
    }

    /// Sends `signal` to the worker in `slot`.
    fn signal(&self, slot: usize, signal: Signal) -> Result<()> {
        let p = self.proc(slot)?;
        kill_process(p.pid, signal).with_context(|| format!("signal {signal:?} to {}", p.id))
    }

    /// The worker in `slot`.
    fn proc(&self, slot: usize) -> Result<&Proc> {
        self.slots[slot].proc.as_ref().with_context(|| format!("slot {slot} is empty"))
    }

    /// The last `n` lines of one worker's log.
    pub fn log_tail(&self, id: &str, n: usize) -> String {
        let text = std::fs::read_to_string(self.cfg.logs.join(format!("{id}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The last lines of every worker's log, for a failure report.
    pub fn log_tails(&self, n: usize) -> String {
        let tails =
            self.started.iter().map(|id| format!("--- {id} (last {n} lines)\n{}", self.log_tail(id, n)));
        tails.collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Fleet {
    /// Kills every worker still running.
    fn drop(&mut self) {
        for p in self.slots.iter_mut().filter_map(|s| s.proc.as_mut()) {
            let _ = p.child.start_kill(); // SIGKILL stops a frozen process too
        }
    }
}
