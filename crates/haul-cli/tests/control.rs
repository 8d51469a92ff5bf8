//! `haul jobs` and `haul dead` by filter: listings and details as JSON (args hidden unless
//! asked), bulk retry and redrive with dry-run counts that match what they then do, and bad
//! filters or a bulk action without a filter refused with exit 2 before any change.

mod common;

use common::*;
use serde_json::Value;

/// A migrated schema with `n` parked jobs of kind `mail` (a queue no worker serves), the
/// first `dead` of them discarded with one error each.
fn seeded(prefix: &str, n: usize, dead: usize) -> (String, DropSchema) {
    let schema = unique(prefix);
    let cleanup = DropSchema(schema.clone());
    migrate(&schema);
    for i in 0..n {
        let args = format!(r#"{{"to":"user{i}@example.com","x_pad":"{}"}}"#, "x".repeat(300));
        let out = haul(&["enqueue", "--schema", &schema, "mail", "--queue", "parked", "--args", &args]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    sql(&format!(
        "UPDATE \"{schema}\".jobs SET state = 'discarded', finalized_at = now(), attempt = max_attempts,
            errors = ARRAY[jsonb_build_object('at', now(), 'attempt', max_attempts, 'class', 'error',
                                              'error', 'smtp refused: ' || id)]
         WHERE id <= {dead}"
    ));
    (schema, cleanup)
}

/// Runs `haul ARGS` expecting exit 0; its stdout.
fn ok(args: &[&str]) -> String {
    let out = haul(args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{stderr}");
    stdout
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).expect(l)).collect()
}

fn state(schema: &str, id: i64) -> String {
    query(&format!("SELECT state FROM \"{schema}\".jobs WHERE id = {id}")).unwrap()
}

#[test]
fn list_and_show_print_json_with_args_hidden_unless_asked() {
    let (s, _cleanup) = seeded("haul_cli_list", 4, 1);
    let rows = json_lines(&ok(&["jobs", "--schema", &s, "list", "--json", "--limit", "3"]));
    assert_eq!(rows.iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![4, 3, 2]);
    assert!(rows.iter().all(|r| r.get("args").is_none() && r["kind"] == "mail"), "{rows:?}");
    let next = json_lines(&ok(&["jobs", "--schema", &s, "list", "--json", "--before", "2"]));
    assert_eq!(next.len(), 1);
    let dead = json_lines(&ok(&["jobs", "--schema", &s, "list", "--json", "--state", "discarded,cancelled"]));
    assert_eq!(dead.len(), 1);
    let shown = json_lines(&ok(&["jobs", "--schema", &s, "show", "1", "--json", "--show-args"]));
    assert_eq!(shown[0]["errors"][0]["error"], "smtp refused: 1");
    assert_eq!(shown[0]["args"]["to"], "user0@example.com");
    let get = ok(&["jobs", "--schema", &s, "get", "1"]);
    assert!(get.contains("smtp refused: 1") && !get.contains("user0@"), "{get}");
    let text = ok(&["jobs", "--schema", &s, "list", "--show-args"]);
    assert!(text.contains("user3@example.com") && text.contains('…'), "args cut: {text}");
    assert!(!text.contains(&"x".repeat(200)), "{text}");
}

#[test]
fn retry_by_filter_counts_first_then_changes_as_many() {
    let (s, _cleanup) = seeded("haul_cli_retry", 5, 3);
    let dry = json_lines(&ok(&["jobs", "--schema", &s, "retry", "--queue", "parked", "--dry-run", "--json"]));
    assert_eq!((dry[0]["changed"].as_u64(), dry[0]["dry_run"].as_bool()), (Some(3), Some(true)));
    assert_eq!(state(&s, 1), "discarded", "a dry run changes nothing");
    let done = json_lines(&ok(&["jobs", "--schema", &s, "retry", "--kind", "mail", "--json"]));
    assert_eq!((done[0]["action"].as_str(), done[0]["changed"].as_u64()), (Some("retry"), Some(3)));
    for id in 1..=5 {
        assert_eq!(state(&s, id), "available");
    }
    let by_id = json_lines(&ok(&["jobs", "--schema", &s, "cancel", "2", "--json"]));
    assert_eq!(by_id[0], serde_json::json!({"id": 2, "action": "cancel", "changed": 1, "requested": 0}));
    ok(&["jobs", "--schema", &s, "retry", "2", "--reset-attempts"]);
    let attempts = query(&format!("SELECT attempt || '/' || max_attempts FROM \"{s}\".jobs WHERE id = 2"));
    assert_eq!(attempts.as_deref(), Some("20/41"), "21 after the first retry, 21 more from attempt 20");
}

#[test]
fn dead_redrive_and_purge_take_the_filtered_dead_letters() {
    let (s, _cleanup) = seeded("haul_cli_dead", 4, 3);
    let listed = json_lines(&ok(&["dead", "--schema", &s, "list", "--json"]));
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["errors"][0]["error"], "smtp refused: 3");
    assert!(ok(&["dead", "--schema", &s]).contains("smtp refused: 3"), "`haul dead` alone lists them");
    let dry = json_lines(&ok(&["dead", "--schema", &s, "redrive", "--all", "--dry-run", "--json"]));
    assert_eq!(dry[0]["changed"], 3);
    let done = json_lines(&ok(&["dead", "--schema", &s, "redrive", "--all", "--json"]));
    assert_eq!((done[0]["action"].as_str(), done[0]["changed"].as_u64()), (Some("redrive"), Some(3)));
    assert_eq!(state(&s, 2), "available");
    ok(&["jobs", "--schema", &s, "cancel", "--all"]);
    sql(&format!("UPDATE \"{s}\".jobs SET state = 'discarded' WHERE id IN (1, 2)"));
    let kept = ok(&["dead", "--schema", &s, "purge", "--older-than", "1h", "--json"]);
    assert_eq!(json_lines(&kept)[0]["changed"], 0, "finished just now: kept");
    let purged = ok(&["dead", "--schema", &s, "purge", "--all"]);
    assert!(purged.starts_with("purged 2 jobs"), "{purged}");
    let left = query(&format!("SELECT string_agg(state, ',' ORDER BY id) FROM \"{s}\".jobs"));
    assert_eq!(left.as_deref(), Some("cancelled,cancelled"));
}

#[test]
fn bad_filters_and_unfiltered_bulk_actions_exit_2_and_change_nothing() {
    let (s, _cleanup) = seeded("haul_cli_badfilter", 2, 2);
    let cases: [(&[&str], &str); 7] = [
        (&["jobs", "list", "--state", "finished"], "unknown job state `finished` (one of: pending"),
        (&["jobs", "delete", "--older-than", "7x"], "--older-than"),
        (&["dead", "purge", "--older-than", "soon"], "--older-than"),
        (&["jobs", "retry", "--older-than", "1d", "--newer-than", "1h"], "no job is both older than"),
        (&["jobs", "delete"], "a bulk action needs a filter"),
        (&["dead", "redrive"], "a bulk action needs a filter"),
        (&["jobs", "delete", "1", "--queue", "parked"], "a job ID goes alone"),
    ];
    for (args, says) in cases {
        let mut args = args.to_vec();
        args.splice(1..1, ["--schema", s.as_str()]);
        let out = haul(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{stdout}\n{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let dead = query(&format!("SELECT count(*)::text FROM \"{s}\".jobs WHERE state = 'discarded'"));
    assert_eq!(dead.as_deref(), Some("2"), "nothing changed");
}
