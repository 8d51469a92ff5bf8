//! `haul queues`: pausing and resuming a queue shows in the listing (text and `--json`) with
//! its jobs per state, a bad queue name is a usage error (exit 2) that reaches no database,
//! and an unmigrated schema is a runtime error (exit 1).

mod common;

use common::*;

/// `haul queues --schema S ARGS...`, which must succeed; its stdout.
fn queues_ok(schema: &str, args: &[&str]) -> String {
    let out = haul(&[&["queues", "--schema", schema], args].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{stderr}");
    stdout
}

fn listing(schema: &str) -> Vec<serde_json::Value> {
    let out = queues_ok(schema, &["list", "--json"]);
    serde_json::from_str(out.trim()).expect("the listing is a JSON array")
}

#[test]
fn pause_and_resume_show_in_the_listing_with_counts() {
    let schema = unique("haul_cli_queues");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let (_, empty) = text(&haul(&["queues", "--schema", &schema]));
    assert!(empty.contains("no queues"), "{empty}");
    for _ in 0..2 {
        let out = haul(&["enqueue", "--schema", &schema, "send_email", "--queue", "mail"]);
        assert!(out.status.success(), "{:?}", text(&out));
    }

    let paused = queues_ok(&schema, &["pause", "mail", "--json"]);
    assert_eq!(paused.trim(), r#"{"paused":true,"queue":"mail"}"#);
    queues_ok(&schema, &["pause", "billing"]);
    let list = listing(&schema);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!((list[0]["name"].as_str(), list[0]["paused"].as_bool()), (Some("billing"), Some(true)));
    assert_eq!((list[1]["name"].as_str(), list[1]["paused"].as_bool()), (Some("mail"), Some(true)));
    assert_eq!(list[1]["counts"]["available"], 2);
    let table = queues_ok(&schema, &[]);
    let mail = table.lines().find(|l| l.starts_with("mail ")).expect("a line for mail");
    assert!(mail.contains("paused"), "{table}");

    let resumed = queues_ok(&schema, &["resume", "mail"]);
    assert!(resumed.contains("queue mail resumed"), "{resumed}");
    assert_eq!(listing(&schema)[1]["paused"], false);
}

#[test]
fn a_bad_queue_name_is_a_usage_error_and_a_missing_schema_a_runtime_error() {
    for action in ["pause", "resume"] {
        // an unreachable database: the name is refused before any connection
        let out = haul_at("postgres://postgres@127.0.0.1:1/none", &["queues", action, "a b"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{action}:\n{stdout}\n{stderr}");
        assert!(stderr.contains("invalid queue `a b`"), "{stderr}");
    }
    let schema = unique("haul_cli_queues_none");
    let out = haul(&["queues", "--schema", &schema, "pause", "mail"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("run the migrations first"), "{stderr}");
    assert_eq!(query(&format!("SELECT to_regnamespace('{schema}')::text")), None, "nothing created");
}
