//! A throwaway PostgreSQL cluster: `initdb` in a temporary folder, started on a free port,
//! stopped and deleted when dropped (even on panic). Haul's demo starts one when no server
//! answers; the chaos suite starts one it may stop, crash and restart without disturbing any
//! other test.

mod error;
mod sweep;
mod tools;

pub use error::Error;

use std::path::{Path, PathBuf};
use std::time::Duration;
use tools::{Tools, free_port};

/// Longest a stop or start of the cluster may take.
const PG_CTL_LIMIT: Duration = Duration::from_secs(60);

/// How [`Cluster::stop`] stops the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// `-m fast`: backends are terminated and a shutdown checkpoint is written.
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

/// A PostgreSQL cluster in a folder of its own under the temporary directory, reached as user
/// `postgres` with trust authentication. Dropping it stops the server and deletes the folder.
///
/// ```no_run
/// use haul_pgtemp::{Cluster, StopMode};
///
/// # fn main() -> Result<(), haul_pgtemp::Error> {
/// let cluster = Cluster::create("my-tests-pg-", &[("fsync", "off")])?;
/// println!("connect to {}", cluster.url());
/// cluster.stop(StopMode::Immediate)?; // a crash, as far as clients can tell
/// cluster.start()?; // crash recovery, then the same url answers again
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    url: String,
    tools: Tools,
    dir: PathBuf,
    port: u16,
    /// The server's command-line options (`pg_ctl -o`).
    options: String,
}

impl Cluster {
    /// Runs `initdb` in a new folder named `<prefix><pid>-<random>` under the temporary
    /// directory and starts the server on a free port, with `settings` as `-c name=value`.
    /// First it deletes folders with the same prefix that an earlier, killed process left.
    ///
    /// Fails with [`Error::NoBinaries`] when PostgreSQL is not installed, and with
    /// [`Error::Tool`] (holding the tool's own message) when `initdb` or the server refuses;
    /// nothing is left behind either way.
    pub fn create(prefix: &str, settings: &[(&str, &str)]) -> Result<Cluster, Error> {
        let tools = Tools::find().ok_or(Error::NoBinaries)?;
        sweep::stale(prefix);
        // a free port can be taken between our probe and the server's bind: try a few
        let mut attempt = 1;
        loop {
            match Cluster::create_once(tools.clone(), prefix, settings) {
                Err(e) if e.is_port_taken() && attempt < 3 => attempt += 1,
                done => return done,
            }
        }
    }

    fn create_once(tools: Tools, prefix: &str, settings: &[(&str, &str)]) -> Result<Cluster, Error> {
        let dir =
            std::env::temp_dir().join(format!("{prefix}{}-{:08x}", std::process::id(), fastrand::u32(..)));
        let port = free_port()?;
        let mut options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", dir.display());
        for (name, value) in settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        // from here on, dropping `cluster` stops and deletes whatever was made
        let cluster = Cluster { url, tools, dir, port, options };
        cluster.tools.hand_over(&cluster.dir)?;
        let data = cluster.data();
        cluster.tools.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"])?;
        cluster.start()?;
        Ok(cluster)
    }

    /// The url clients connect to: `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TCP port, which is also the unix socket's (`<socket_dir>/.s.PGSQL.<port>`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the unix socket (and the data directory and the server's log).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// `pg_ctl stop -m <mode>`: returns once the server is gone.
    pub fn stop(&self, mode: StopMode) -> Result<(), Error> {
        let limit = PG_CTL_LIMIT.as_secs().to_string();
        self.tools.run("pg_ctl", &["-D", &self.data(), "-m", mode.as_str(), "-t", &limit, "-w", "stop"])
    }

    /// Starts the stopped server with its options, listening on TCP and the unix socket.
    pub fn start(&self) -> Result<(), Error> {
        self.pg_start(&self.options)
    }

    /// Starts the stopped server on its unix socket only: TCP clients still find it down,
    /// while a harness connecting through [`Cluster::socket_dir`] reads the state it is in.
    pub fn start_socket_only(&self) -> Result<(), Error> {
        let options = self.options.replace("-c listen_addresses=127.0.0.1", "-c listen_addresses=''");
        self.pg_start(&options)
    }

    /// `pg_ctl start -w` with `options` for the server. When it fails, the error carries the
    /// end of the server's log, where PostgreSQL says why (pg_ctl only says that it failed).
    fn pg_start(&self, options: &str) -> Result<(), Error> {
        let (data, log) = (self.data(), self.dir.join("log"));
        let limit = PG_CTL_LIMIT.as_secs().to_string();
        let args = ["-D", &data, "-o", options, "-l", &log.to_string_lossy(), "-t", &limit, "-w", "start"];
        self.tools.run("pg_ctl", &args).map_err(|e| e.with_log(&log))
    }

    /// The data directory.
    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }
}

impl Drop for Cluster {
    /// Stops the server (killing the postmaster if `pg_ctl` fails) and deletes its folder.
    fn drop(&mut self) {
        let stopped = self.tools.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let data = self.dir.join("data");
        if stopped.is_err() && sweep::quit_postmaster(&data) {
            let _ = sweep::wait_stopped(&data, PG_CTL_LIMIT);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
