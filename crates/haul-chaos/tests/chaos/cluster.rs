//! Where the suite runs: its own throwaway PostgreSQL cluster (in a temporary folder, on a free
//! port, stopped and deleted when dropped, even on panic) when PostgreSQL's binaries are
//! installed, so restarting it disturbs no other test; else the server at `DATABASE_URL`,
//! where the restart scenario is skipped.

use crate::verify::say;
use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};
use sqlx::postgres::PgConnectOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Prefix of the cluster folders in the temporary directory (`<prefix><pid>-<random>`).
const DIR_PREFIX: &str = "haul-chaos-pg-";
/// Longest a stop or start of the cluster may take.
const PG_CTL_LIMIT: Duration = Duration::from_secs(60);

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
        let Some(bin) = find_bin() else {
            say("chaos: no PostgreSQL binaries (initdb) found; using DATABASE_URL, restarts skipped");
            return Target::Shared(shared_url());
        };
        sweep_stale_clusters();
        // a free port can be taken between our probe and the server's bind: try a few
        let mut last = None;
        for _ in 0..3 {
            match Cluster::create(bin.clone()) {
                Ok(c) => {
                    say(&format!("chaos: throwaway PostgreSQL cluster at {} ({})", c.url, c.dir.display()));
                    return Target::Own(c);
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.map(|e| format!("{e:#}")).unwrap_or_default();
        say(&format!(
            "chaos: could not start a throwaway cluster ({e}); using DATABASE_URL, restarts skipped"
        ));
        Target::Shared(shared_url())
    }

    /// The database url.
    pub fn url(&self) -> &str {
        match self {
            Target::Own(c) => &c.url,
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

/// `DATABASE_URL`, or the local default.
fn shared_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// How a restart stops the server.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// `-m fast`: backends are terminated, a shutdown checkpoint is written.
    Fast,
    /// `-m immediate`: everything is killed; the next start runs crash recovery.
    Immediate,
}

impl StopMode {
    /// The `pg_ctl -m` name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// A PostgreSQL cluster in a temporary folder; stopped and deleted on drop.
pub struct Cluster {
    /// Its url (`postgres` user, trust authentication).
    pub url: String,
    /// PostgreSQL's binaries.
    bin: PathBuf,
    /// The temporary folder: data directory, socket and log.
    dir: PathBuf,
    /// Its TCP port.
    port: u16,
    /// The server's command-line options (`pg_ctl -o`).
    options: String,
    /// Root cannot run initdb or the server: run them as `postgres` then.
    as_user: Option<&'static str>,
}

impl Cluster {
    /// Creates a cluster in a new temporary folder and starts it on a free port.
    fn create(bin: PathBuf) -> Result<Self> {
        let as_user = is_root().then_some("postgres");
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let port = free_port()?;
        // fsync off: nothing here must survive an OS crash, and every commit gets cheaper
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c fsync=off",
            dir.display()
        );
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        std::fs::create_dir_all(&dir)?;
        // from here on, dropping `cluster` stops and deletes whatever was made
        let cluster = Cluster { url, bin, dir, port, options, as_user };
        if let Some(user) = as_user {
            run(Command::new("chown").arg(user).arg(&cluster.dir))?;
        }
        let data = cluster.data();
        cluster.pg("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"])?;
        cluster.start()?;
        Ok(cluster)
    }

    /// `pg_ctl stop -m <mode>`: returns once the server is gone.
    pub fn stop(&self, mode: StopMode) -> Result<()> {
        let limit = PG_CTL_LIMIT.as_secs().to_string();
        self.pg("pg_ctl", &["-D", &self.data(), "-m", mode.as_str(), "-t", &limit, "-w", "stop"])
    }

    /// Starts the stopped server with its options, listening on TCP for everyone.
    pub fn start(&self) -> Result<()> {
        self.pg_start(&self.options)
    }

    /// Starts the stopped server on its unix socket only: clients on TCP (every worker) still
    /// find it down, while the harness reads the state the stop left (see [`Cluster::socket`]).
    pub fn start_socket_only(&self) -> Result<()> {
        let options = self.options.replace("-c listen_addresses=127.0.0.1", "-c listen_addresses=''");
        self.pg_start(&options)
    }

    /// Connection options for the unix socket.
    pub fn socket(&self) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.dir).port(self.port).username("postgres").database("postgres")
    }

    /// `pg_ctl start -w` with `options` for the server.
    fn pg_start(&self, options: &str) -> Result<()> {
        let (data, log) = (self.data(), format!("{}/log", self.dir.display()));
        let limit = PG_CTL_LIMIT.as_secs().to_string();
        self.pg("pg_ctl", &["-D", &data, "-o", options, "-l", &log, "-t", &limit, "-w", "start"])
    }

    /// Waits until the postmaster removed its pid file (it does on every kind of shutdown).
    fn wait_stopped(&self) -> Result<()> {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let started = Instant::now();
        while pid_file.exists() {
            if started.elapsed() > PG_CTL_LIMIT {
                bail!("PostgreSQL did not stop within {PG_CTL_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The running postmaster's pid.
    fn postmaster_pid(&self) -> Result<Pid> {
        postmaster_pid(&self.dir.join("data"))
    }

    /// The data directory.
    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }

    /// Runs one of PostgreSQL's tools, as `postgres` when we are root.
    fn pg(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        run(cmd.args(args))
    }
}

impl Drop for Cluster {
    /// Stops the server (killing it if `pg_ctl` fails) and deletes its folder.
    fn drop(&mut self) {
        if self.pg("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]).is_err()
            && let Ok(pid) = self.postmaster_pid()
        {
            let _ = kill_process(pid, Signal::QUIT);
            let _ = self.wait_stopped();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops and deletes clusters left by runs that were killed before their guard could.
fn sweep_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_prefix(DIR_PREFIX).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let alive = owner.parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if alive {
            continue;
        }
        if let Ok(pid) = postmaster_pid(&entry.path().join("data")) {
            let _ = kill_process(pid, Signal::QUIT);
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// The postmaster's pid: the first line of `postmaster.pid`.
fn postmaster_pid(data: &Path) -> Result<Pid> {
    let text = std::fs::read_to_string(data.join("postmaster.pid"))?;
    let raw: i32 = text.lines().next().unwrap_or_default().trim().parse()?;
    Pid::from_raw(raw).context("postmaster.pid holds no pid")
}

/// Runs `cmd` to completion; fails with its stderr if it fails.
fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb`, else `initdb` on the `PATH`.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| version_of(p));
    found.pop().or_else(|| which("initdb").and_then(|p| p.parent().map(Path::to_path_buf)))
}

/// The major version in `/usr/lib/postgresql/<version>/bin`, so 16 sorts after 9.6.
fn version_of(bin: &Path) -> u32 {
    let dir = bin.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    dir.and_then(|v| v.split('.').next()?.parse().ok()).unwrap_or(0)
}

/// `name` on the `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.exists()))
}

/// Whether we run as root (PostgreSQL refuses to).
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A TCP port nobody listens on right now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
