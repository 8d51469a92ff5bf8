//! Clusters left behind by processes killed before their guard could stop them: found by folder
//! name (`<prefix><pid>-…` whose pid is gone), their postmaster killed, their folder deleted.

use crate::Error;
use rustix::process::{Pid, Signal, kill_process};
use std::path::Path;
use std::time::{Duration, Instant};

/// Stops and deletes every `<prefix><pid>-*` folder in the temporary directory whose process
/// is no longer alive.
pub(crate) fn stale(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_prefix(prefix).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let Ok(pid) = owner.parse::<u32>() else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let data = entry.path().join("data");
        if quit_postmaster(&data) {
            let _ = wait_stopped(&data, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// Sends SIGQUIT (immediate shutdown) to the postmaster of `data`; whether one was signalled.
pub(crate) fn quit_postmaster(data: &Path) -> bool {
    postmaster_pid(data).is_some_and(|pid| kill_process(pid, Signal::QUIT).is_ok())
}

/// The postmaster's pid: the first line of `postmaster.pid`.
fn postmaster_pid(data: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let raw: i32 = text.lines().next()?.trim().parse().ok()?;
    Pid::from_raw(raw)
}

/// Waits until the postmaster of `data` removed its pid file (it does on every kind of
/// shutdown), for at most `limit`.
pub(crate) fn wait_stopped(data: &Path, limit: Duration) -> Result<(), Error> {
    let pid_file = data.join("postmaster.pid");
    let started = Instant::now();
    while pid_file.exists() {
        if started.elapsed() > limit {
            return Err(Error::StopTimeout(limit));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
