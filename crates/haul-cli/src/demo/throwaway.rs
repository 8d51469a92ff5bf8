//! A throwaway PostgreSQL cluster in a temporary folder, for when no server answers and the
//! PostgreSQL binaries are installed. Stopped and deleted when dropped.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Throwaway {
    pub url: String,
    bin: PathBuf,
    dir: PathBuf,
    as_user: Option<&'static str>,
}

impl Throwaway {
    /// Finds `initdb`, creates a cluster in a temporary folder and starts it on a free port.
    pub fn start() -> Result<Self> {
        let bin = find_bin().context("no PostgreSQL binaries (initdb) found")?;
        // initdb refuses to run as root; the packaged `postgres` user can
        let as_user = is_root().then_some("postgres");
        let dir = std::env::temp_dir().join(format!("haul-demo-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if let Some(user) = as_user {
            run(Command::new("chown").arg(user).arg(&dir))?;
        }
        let port = free_port()?;
        let cluster =
            Throwaway { url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), bin, dir, as_user };
        cluster.pg("initdb", &["-D", &cluster.data(), "-A", "trust", "-U", "postgres", "--no-sync"])?;
        let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", cluster.dir.display());
        let log = format!("{}/log", cluster.dir.display());
        cluster.pg("pg_ctl", &["-D", &cluster.data(), "-o", &opts, "-l", &log, "-w", "start"])?;
        Ok(cluster)
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }

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

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().or_else(|| which("initdb").and_then(|p| p.parent().map(Path::to_path_buf)))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.exists()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
