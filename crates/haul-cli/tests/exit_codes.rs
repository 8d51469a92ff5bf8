//! Exit codes and messages scripts can trust: a missing job exits 1 with "job N not found",
//! an empty listing says so and exits 0, and a demo interrupted with SIGINT says
//! "interrupted" and exits 130.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn a_missing_job_exits_1_and_says_so() {
    let schema = unique("haul_cli_missing");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    for action in ["get", "retry", "cancel", "delete"] {
        let out = haul(&["jobs", "--schema", &schema, action, "999999"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{action}:\n{stdout}\n{stderr}");
        assert!(stderr.contains("job 999999 not found"), "{action}: {stderr}");
    }
}

#[test]
fn an_empty_listing_says_so() {
    let schema = unique("haul_cli_empty");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    for (action, says) in [("list", "no jobs"), ("depth", "no jobs"), ("dead", "no dead letters")] {
        let out = haul(&["jobs", "--schema", &schema, action]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{action}:\n{stdout}\n{stderr}");
        assert!(stdout.is_empty(), "{action}: stdout holds only rows: {stdout}");
        assert!(stderr.contains(says), "{action}: {stderr}");
    }
}

#[test]
fn an_interrupted_demo_says_so_and_exits_130() {
    let schema = unique("haul_cli_sigint");
    let _cleanup = DropSchema(schema.clone());
    let mut child = Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(["--database-url", &database_url(), "demo", "--schema", &schema, "--emails", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the haul binary runs");
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr_pipe.read_to_string(&mut s).unwrap();
        s
    });
    let mut stdout = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // the enqueue summary comes just before the jobs are worked (the monthly report alone
    // takes 1.2 s), so the signal arrives while the worker runs
    for line in lines.by_ref() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if line.contains(" jobs in ") {
            break;
        }
    }
    assert!(stdout.contains(" jobs in "), "the demo enqueued its jobs: {stdout}");
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    lines.for_each(|l| stdout.push_str(&(l.unwrap() + "\n")));
    let status = child.wait().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "exit 130 after SIGINT:\n{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stdout.contains("Done in"), "no summary of a run that did not finish: {stdout}");
}
