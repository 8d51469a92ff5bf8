//! Runs `haul-bench --smoke --json` against the PostgreSQL at DATABASE_URL (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the bench creates its own database there)
//! and checks that it succeeds and records every workload, W1 to W8 and `horizon` (with its
//! held transaction).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Every workload the smoke bench must record.
const WORKLOADS: [&str; 9] = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "horizon"];

/// The server to run against, as the library's tests choose it.
fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A results folder of the test's own, so CI never writes into the peers' folder.
fn peers_dir() -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("haul-bench-smoke-{}-{nanos}", std::process::id()))
}

#[test]
fn smoke_bench_records_every_workload() {
    let dir = peers_dir();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_haul-bench"))
        .args(["--database-url", &database_url(), "--smoke", "--json"])
        // a schema of its own, so a bench someone runs meanwhile in `haul` is left alone
        .args(["--schema", "haul_bench_smoke"])
        .arg("--hold")
        .env("HAUL_PEERS_DIR", &dir)
        .output()
        .expect("the haul-bench binary runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "haul-bench --smoke failed ({}):\n{stdout}\n{stderr}", out.status);
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    for w in WORKLOADS {
        let found = records.iter().any(|r| r["workload"] == w && r["peer"] == "haul" && r["smoke"] == true);
        assert!(found, "no {w} record in:\n{stdout}");
    }
    let w3 = records.iter().find(|r| r["workload"] == "W3").unwrap();
    assert_eq!(w3["handled"], w3["jobs"], "W3 handled every job once: {w3}");
    assert_eq!(w3["remaining_in_db"], 0);
    let w4 = records.iter().find(|r| r["workload"] == "W4").unwrap();
    assert_eq!(w4["lost"], 0, "W4 lost no job: {w4}");
    for fleet in ["W7", "W8"] {
        let r = records.iter().find(|r| r["workload"] == fleet).unwrap();
        for run in r["runs"].as_array().expect("the fleet's runs") {
            assert_eq!(run["handled"], run["jobs"], "{fleet}: every job handled once: {run}");
            assert!(run["claims"].as_u64() >= run["empty_claims"].as_u64(), "{fleet}: {run}");
        }
    }
    let h = records.iter().find(|r| r["workload"] == "horizon").unwrap();
    let last = h["samples"].as_array().and_then(|s| s.last()).expect("horizon's samples");
    assert!(h["sent"].as_u64() > Some(0) && last["completed"].as_u64() > Some(0), "horizon ran jobs: {h}");
    // the snapshot was taken before the first insert and held to the last sample
    let held = last["oldest_xact_s"].as_f64().unwrap();
    assert!(held >= h["minutes"].as_f64().unwrap() * 60.0 - 0.5, "horizon held its snapshot: {last}");
    assert!(last["xmin_age"].as_i64() > Some(0), "the held snapshot pins the horizon: {last}");
    let file = std::fs::read_to_string(dir.join("results/smoke/haul.jsonl")).expect("the smoke results file");
    assert_eq!(file.lines().count(), records.len(), "every printed record is in the file");
    assert!(!dir.join("results/haul.jsonl").exists(), "smoke runs stay out of the real results");
    std::fs::remove_dir_all(&dir).ok();
    eprintln!("smoke bench took {:.1?}", started.elapsed());
}
