//! `haul limits`: setting, listing (text and `--json`, and in `haul queues`) and clearing a
//! queue's limit; a bad limit or queue name is a usage error (exit 2) that reaches no database.

mod common;

use common::*;

/// `haul limits --schema S ARGS...`, which must succeed; its stdout.
fn limits_ok(schema: &str, args: &[&str]) -> String {
    let out = haul(&[&["limits", "--schema", schema], args].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn set_list_and_clear_a_limit() {
    let schema = unique("haul_cli_limits");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let (_, empty) = text(&haul(&["limits", "--schema", &schema]));
    assert!(empty.contains("no limits"), "{empty}");

    let set = limits_ok(
        &schema,
        &["set", "partner", "--concurrency", "10", "--rate", "100/1s", "--per-arg", "account"],
    );
    assert!(
        set.contains("queue partner limited: concurrency 10, rate 100 per 1s, per args.account"),
        "{set}"
    );
    limits_ok(&schema, &["set", "mail", "--rate", "5/250ms", "--per-kind"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(limits_ok(&schema, &["--json"]).trim()).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["queue"], "mail");
    assert_eq!(list[0]["limit"]["rate"]["starts"], 5);
    assert_eq!(list[0]["limit"]["partition"]["by_kind"], true);
    assert_eq!(list[1]["limit"]["concurrency"], 10);
    let table = limits_ok(&schema, &[]);
    assert!(table.contains("rate 5 per 250ms, per kind"), "{table}");
    let queues = haul(&["queues", "--schema", &schema]);
    assert!(text(&queues).0.contains("concurrency 10, rate 100 per 1s"), "{:?}", text(&queues));

    assert!(limits_ok(&schema, &["clear", "partner"]).contains("no longer limited"));
    assert!(limits_ok(&schema, &["clear", "partner"]).contains("had no limit"));
}

#[test]
fn a_bad_limit_is_a_usage_error_before_any_connection() {
    let down = "postgres://postgres@127.0.0.1:1/none";
    let cases: [(&[&str], &str); 5] = [
        (&["limits", "set", "partner"], "give a concurrency, a rate or both"),
        (&["limits", "set", "partner", "--concurrency", "0"], "a concurrency must be 1 to"),
        (&["limits", "set", "partner", "--rate", "100"], "write a rate as N/PERIOD"),
        (&["limits", "set", "partner", "--rate", "100/0s"], "whole milliseconds, from 1 ms to 24 h"),
        (&["limits", "set", "a b", "--concurrency", "1"], "invalid queue `a b`"),
    ];
    for (args, says) in cases {
        let out = haul_at(down, args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{stdout}\n{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
