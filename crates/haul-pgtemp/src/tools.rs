//! PostgreSQL's tools on this machine (`initdb`, `pg_ctl`) and running them, as the `postgres`
//! user when we are root, since PostgreSQL refuses to run as root.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the tools are and whom they run as.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    bin: PathBuf,
    as_user: Option<&'static str>,
}

impl Tools {
    /// The newest `/usr/lib/postgresql/*/bin` holding `initdb`, else `initdb` on the `PATH`.
    pub(crate) fn find() -> Option<Tools> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        found.sort_by_key(|p| version_of(p));
        let bin = found.pop().or_else(|| which("initdb").and_then(|p| p.parent().map(Path::to_path_buf)))?;
        let as_user = rustix::process::geteuid().is_root().then_some("postgres");
        Some(Tools { bin, as_user })
    }

    /// Gives `dir` to the user the tools run as.
    pub(crate) fn hand_over(&self, dir: &Path) -> Result<(), Error> {
        match self.as_user {
            Some(user) => output(Command::new("chown").arg(user).arg(dir)),
            None => Ok(()),
        }
    }

    /// Runs `tool` with `args` to completion; fails with its stderr if it fails.
    pub(crate) fn run(&self, tool: &str, args: &[&str]) -> Result<(), Error> {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        output(cmd.args(args))
    }
}

/// Runs `cmd` to completion; fails with its stderr if it fails.
fn output(cmd: &mut Command) -> Result<(), Error> {
    let out = cmd.output().map_err(|e| Error::io(format!("running {cmd:?}"), e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(Error::Tool { command: format!("{cmd:?}"), stderr });
    }
    Ok(())
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

/// A TCP port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16, Error> {
    let probe = || std::net::TcpListener::bind("127.0.0.1:0")?.local_addr();
    probe().map(|a| a.port()).map_err(|e| Error::io("finding a free port", e))
}
