//! What can go wrong making, starting or stopping a throwaway cluster.

use std::path::Path;

/// How many lines of the server's log a failed start quotes.
const LOG_TAIL: usize = 5;

/// A throwaway cluster could not be made, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `/usr/lib/postgresql/*/bin` nor the `PATH` holds `initdb`.
    #[error("no PostgreSQL binaries (initdb) found under /usr/lib/postgresql or on the PATH")]
    NoBinaries,
    /// A file-system or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// One of PostgreSQL's tools (`initdb`, `pg_ctl`) ran and failed.
    #[error("{command} failed: {stderr}")]
    Tool {
        /// The command line that ran.
        command: String,
        /// What the tool printed on stderr.
        stderr: String,
    },
    /// The postmaster was signalled but still had not exited after this long.
    #[error("PostgreSQL did not stop within {0:?}")]
    StopTimeout(std::time::Duration),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }

    /// Whether the server could not start because another process took its port meanwhile.
    pub(crate) fn is_port_taken(&self) -> bool {
        matches!(self, Error::Tool { stderr, .. } if stderr.contains("Address already in use"))
    }

    /// Adds the last lines of the server's `log` to a failed tool's message.
    pub(crate) fn with_log(self, log: &Path) -> Self {
        match self {
            Error::Tool { command, mut stderr } => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                for line in &lines[lines.len().saturating_sub(LOG_TAIL)..] {
                    stderr.push_str("\n  ");
                    stderr.push_str(line);
                }
                Error::Tool { command, stderr }
            }
            other => other,
        }
    }
}
