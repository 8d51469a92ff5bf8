//! Where results go: one JSON line per run per workload appended to
//! `$HAUL_PEERS_DIR/results/haul.jsonl` in the peers' field names, and to stdout either as
//! human-readable lines or (with `--json`) as the same JSON objects.

use super::plan::{Plan, Workload};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::PathBuf;

/// The peers' folder when HAUL_PEERS_DIR is not set.
pub const PEERS_DIR_DEFAULT: &str = "/tmp/haul-peers";

/// What one run of one workload measured.
#[derive(Debug)]
pub struct Outcome {
    /// Which workload.
    pub workload: Workload,
    /// The record's fields (the peers' names), without the common ones.
    pub fields: Map<String, Value>,
    /// The human-readable lines.
    pub lines: Vec<String>,
    /// Checks that failed (jobs lost, counts off); any fails the bench after recording.
    pub problems: Vec<String>,
}

impl Outcome {
    /// An outcome of `workload` with `fields` (a JSON object) and `lines`.
    pub fn new(workload: Workload, fields: Value, lines: Vec<String>) -> Outcome {
        let fields = match fields {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        Outcome { workload, fields, lines, problems: Vec::new() }
    }

    /// Adds a failed check when `ok` is false.
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(problem());
        }
    }

    /// A number field of the record, if present.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.fields.get(key).and_then(Value::as_f64)
    }
}

/// Which results file a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// `results/haul.jsonl` (`results/smoke/haul.jsonl` with --smoke, so CI never mixes in).
    Results,
    /// `results/tuning/haul.jsonl`, like the peers' tune.sh sweeps (`results/smoke/tuning/` with --smoke).
    Tuning,
}

/// Writes records and prints results.
pub struct Recorder {
    results: PathBuf,
    json: bool,
    smoke: bool,
}

impl Recorder {
    /// A recorder for `plan`, writing under HAUL_PEERS_DIR (default [`PEERS_DIR_DEFAULT`]).
    pub fn new(plan: &Plan) -> Recorder {
        let dir = std::env::var_os("HAUL_PEERS_DIR").map_or_else(|| PEERS_DIR_DEFAULT.into(), PathBuf::from);
        Recorder { results: dir.join("results"), json: plan.json, smoke: plan.smoke }
    }

    /// The file records of `sink` are appended to.
    pub fn path(&self, sink: Sink) -> PathBuf {
        match (sink, self.smoke) {
            (Sink::Results, false) => self.results.join("haul.jsonl"),
            (Sink::Results, true) => self.results.join("smoke").join("haul.jsonl"),
            (Sink::Tuning, false) => self.results.join("tuning").join("haul.jsonl"),
            (Sink::Tuning, true) => self.results.join("smoke").join("tuning").join("haul.jsonl"),
        }
    }

    /// Records run `run` of an outcome: appends its JSON line and prints it (as JSON or lines).
    pub fn emit(&self, run: usize, outcome: &Outcome, sink: Sink) -> Result<()> {
        let line = self.line(run, outcome).to_string();
        self.append(sink, &line)?;
        if self.json {
            println!("{line}");
        } else {
            outcome.lines.iter().for_each(|l| println!("{l}"));
        }
        Ok(())
    }

    /// Prints a human-readable line (nothing with --json, whose stdout is only JSON).
    pub fn say(&self, line: &str) {
        if !self.json {
            println!("{line}");
        }
    }

    /// Notes progress on stderr.
    pub fn progress(&self, line: &str) {
        eprintln!("  … {line}");
    }

    /// The full record: the common fields, then the outcome's.
    fn line(&self, run: usize, outcome: &Outcome) -> Value {
        let mut record = Map::new();
        record.insert("peer".into(), json!("haul"));
        record.insert(
            "ts".into(),
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        record.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        record.insert("build".into(), json!(if cfg!(debug_assertions) { "debug" } else { "release" }));
        record.insert("smoke".into(), json!(self.smoke));
        record.insert("workload".into(), json!(outcome.workload.name()));
        record.insert("run".into(), json!(run));
        record.extend(outcome.fields.clone());
        if !outcome.problems.is_empty() {
            record.insert("problems".into(), json!(outcome.problems));
        }
        Value::Object(record)
    }

    /// Appends `line` to the sink's file, creating its folder.
    fn append(&self, sink: Sink, line: &str) -> Result<()> {
        let path = self.path(sink);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("results path has a folder"))?;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            writeln!(f, "{line}")
        };
        write().with_context(|| format!("appending to {}", path.display()))
    }
}
