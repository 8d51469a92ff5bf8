//! `haul periodic`: the schedules the database records, as text and as JSON; none is no error.

mod common;

use common::*;

#[test]
fn periodic_lists_what_the_leader_recorded() {
    let schema = unique("haul_cli_periodic");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let empty = haul(&["periodic", "--schema", &schema]);
    let (out, err) = text(&empty);
    assert!(empty.status.success() && out.is_empty(), "{out}{err}");
    assert!(err.contains("no periodic schedules"), "{err}");

    let record = format!(
        "INSERT INTO \"{schema}\".periodic (name, last_tick, updated_at) VALUES ('report:every 300s', '2026-12-06T18:00:00Z', now()) RETURNING name"
    );
    assert_eq!(query(&record).as_deref(), Some("report:every 300s"));
    let listed = haul(&["periodic", "--schema", &schema, "--json"]);
    let (out, err) = text(&listed);
    assert!(listed.status.success(), "{err}");
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["name"], "report:every 300s");
    assert_eq!(row["last_tick"], "2026-12-06T18:00:00Z");
    let plain = haul(&["periodic", "--schema", &schema]);
    assert!(text(&plain).0.contains("report:every 300s"), "{:?}", text(&plain));
}
