//! How a failed command ends: its error printed once (each distinct cause once, control
//! characters escaped) and an exit code scripts can trust (1; 2 for a bad command line, as
//! clap's own; 130 when interrupted).

use crate::escape::escaped_lines;
use crate::signals::Interrupted;
use std::process::ExitCode;

/// The exit code of a command stopped by SIGINT or SIGTERM, as shells report it.
const INTERRUPTED: u8 = 130;

/// The exit code of a bad command line, as clap's own.
const USAGE: u8 = 2;

/// A command line that parsed but asks for something no run can do (a bulk action with no
/// filter, an age window no job fits): nothing was sent to the database.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Prints `e` to stderr and returns the exit code for it.
pub fn exit(e: &anyhow::Error) -> ExitCode {
    if e.is::<Interrupted>() {
        eprintln!("interrupted");
        return ExitCode::from(INTERRUPTED);
    }
    eprintln!("error: {}", escaped_lines(&message(e)));
    if e.is::<Usage>() { ExitCode::from(USAGE) } else { ExitCode::FAILURE }
}

/// The error and its causes joined by `: `, leaving out a cause whose text an earlier one
/// already holds (wrappers often repeat their source's message).
fn message(e: &anyhow::Error) -> String {
    let mut shown: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !shown.iter().any(|s| s.contains(&text)) {
            shown.push(text);
        }
    }
    shown.join(": ")
}

#[cfg(test)]
mod tests {
    use super::message;
    use anyhow::anyhow;

    #[test]
    fn a_repeated_cause_is_printed_once() {
        let e = anyhow!("role \"x\" does not exist").context("database error: role \"x\" does not exist");
        let e = e.context("against postgres://h/db");
        assert_eq!(message(&e), "against postgres://h/db: database error: role \"x\" does not exist");
    }
}
