//! `haul batches show` and `haul jobs show` on a fan-out: the batch's children by state, its
//! result and callback once finished, the child's batch; a missing batch exits 1.

mod common;

use common::*;

#[test]
fn a_batch_shows_its_progress_and_a_child_its_batch() {
    let schema = unique("haul_cli_batches");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    // a batch of three: one completed (gone), one discarded, one still available
    sql(&format!(
        r#"INSERT INTO "{schema}".batches (total) VALUES (3);
           INSERT INTO "{schema}".jobs (kind, queue, args, state, max_attempts, batch_id, finalized_at)
           VALUES ('resize', 'default', '{{}}', 'discarded', 1, 1, now()),
                  ('resize', 'default', '{{}}', 'available', 1, 1, NULL);"#
    ));
    let out = haul(&["batches", "--schema", &schema, "show", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("children 3"), "{stdout}");
    assert!(stdout.contains("waiting  1") && stdout.contains("discarded 1"), "{stdout}");
    assert!(stdout.contains("gone (completed): 1") && stdout.contains("running"), "{stdout}");

    let out = haul(&["batches", "--schema", &schema, "show", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(text(&out).0.trim()).expect("JSON");
    assert_eq!((v["total"].as_i64(), v["states"]["available"].as_i64()), (Some(3), Some(1)));
    assert!(v["result"].is_null());

    let out = haul(&["jobs", "--schema", &schema, "show", "2"]);
    assert!(text(&out).0.contains("batch    1"), "{:?}", text(&out));

    let out = haul(&["batches", "--schema", &schema, "show", "9"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("batch 9 not found"), "{stderr}");
}
