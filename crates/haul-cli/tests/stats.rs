//! `haul stats`: the JSON and the table on a seeded schema (jobs in known states, a rollup of
//! known outcomes), a filter by queue, and a bad window as a usage error.

mod common;

use common::*;

fn stats_ok(schema: &str, args: &[&str]) -> String {
    let out = haul(&[&["stats", "--schema", schema], args].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn stats_json_and_table_show_a_seeded_schema() {
    let schema = unique("haul_cli_stats");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let s = format!("\"{schema}\"");
    sql(&format!(
        "INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT 'available', 'send_email', 'mail', '{{}}', 5, now() - interval '90 seconds', NULL
         FROM generate_series(1, 3);
         INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         VALUES ('discarded', 'send_email', 'mail', '{{}}', 5, now(), now());
         INSERT INTO {s}.stats_rollups (bucket, queue, kind, completed, retried, run_time, queue_wait)
         VALUES (date_trunc('minute', now()), 'mail', 'send_email', 6, 2,
                 array_fill(0::bigint, ARRAY[145]), array_fill(0::bigint, ARRAY[145]));"
    ));

    let json: serde_json::Value = serde_json::from_str(stats_ok(&schema, &["--json"]).trim()).unwrap();
    assert_eq!(json["estimated"], serde_json::json!([]));
    let row = &json["rows"][0];
    assert_eq!((row["queue"].as_str(), row["kind"].as_str()), (Some("mail"), Some("send_email")));
    assert_eq!((row["depth"]["available"].as_i64(), row["dead_letters"].as_i64()), (Some(3), Some(1)));
    assert_eq!((row["outcomes"]["completed"].as_i64(), row["error_rate"].as_f64()), (Some(6), Some(0.25)));
    let oldest = row["oldest_available"].as_f64().expect("an age in seconds");
    assert!((90.0..150.0).contains(&oldest), "{oldest}");
    assert_eq!(json["total"]["depth"]["available"].as_i64(), Some(3));

    let table = stats_ok(&schema, &["--window", "10m"]);
    let mail = table.lines().find(|l| l.starts_with("mail ")).unwrap_or_else(|| panic!("{table}"));
    assert!(mail.contains("25.0"), "error rate in percent: {table}");
    assert!(table.lines().any(|l| l.starts_with("  send_email")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("total")), "{table}");

    let other: serde_json::Value =
        serde_json::from_str(stats_ok(&schema, &["--json", "--queue", "other"]).trim()).unwrap();
    assert_eq!(other["rows"], serde_json::json!([]));
}

#[test]
fn a_bad_window_is_a_usage_error() {
    let out = haul_at("postgres://postgres@127.0.0.1:1/none", &["stats", "--window", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}
