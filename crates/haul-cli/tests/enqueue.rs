//! `haul enqueue`: one job by kind name, with a unique key reported as taken on a second
//! insert, and bad JSON refused with nothing inserted.

mod common;

use common::*;

#[test]
fn enqueue_inserts_once_per_unique_key_and_refuses_bad_json() {
    let schema = unique("haul_cli_enqueue");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let enqueue = |args: &str| {
        haul(&[
            "enqueue",
            "--schema",
            &schema,
            "send_email",
            "--args",
            args,
            "--unique-key",
            "welcome:7",
            "--json",
        ])
    };
    let first = enqueue(r#"{"to":"a@example.com"}"#);
    let (out, err) = text(&first);
    assert!(first.status.success(), "{out}{err}");
    let first: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(first["duplicate"], false);
    let again = enqueue(r#"{"to":"a@example.com"}"#);
    let again: serde_json::Value = serde_json::from_str(text(&again).0.trim()).unwrap();
    assert_eq!((again["duplicate"].as_bool(), &again["id"]), (Some(true), &first["id"]));
    let bad = enqueue("{not json");
    let (_, err) = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(err.contains("--args is not valid JSON; nothing was inserted"), "{err}");
    let count = query(&format!("SELECT count(*)::text FROM \"{schema}\".jobs"));
    assert_eq!(count.as_deref(), Some("1"));
}
