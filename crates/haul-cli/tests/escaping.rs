//! Job data is shown escaped: a kind, queue, tag, error or arg written by anyone with access
//! to the table cannot send control characters (escape sequences) to the operator's terminal,
//! and ordinary unicode is shown as it is.

mod common;

use common::*;

/// Inserts a dead letter whose every text field holds control characters.
fn insert_hostile_job(schema: &str) {
    sql(&format!(
        r#"INSERT INTO "{schema}".jobs (kind, queue, args, metadata, tags, max_attempts, attempt, state, finalized_at, errors)
           VALUES (E'kind\x1b[31m', E'queue\x07', jsonb_build_object('note', E'caf\u00e9 \u009b2J'),
                   jsonb_build_object('m', E'\u202e'), ARRAY[E'tag\x1b]0;x'], 1, 1, 'discarded', now(),
                   ARRAY[jsonb_build_object('at', now(), 'attempt', 1, 'class', 'error',
                                            'error', E'line one\nline two \x1b[2J\r')])"#
    ));
}

fn assert_clean(what: &str, stdout: &str) {
    let bad: Vec<char> = stdout
        .chars()
        .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c))
        .collect();
    assert!(bad.is_empty(), "{what} printed control characters {bad:?}:\n{stdout}");
}

#[test]
fn job_data_is_escaped_on_output() {
    let schema = unique("haul_cli_escape");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    insert_hostile_job(&schema);
    let id = query(&format!("SELECT id::text FROM \"{schema}\".jobs")).unwrap();
    let runs = [
        vec!["jobs", "--schema", &schema, "list"],
        vec!["jobs", "--schema", &schema, "get", &id, "--show-args"],
        vec!["jobs", "--schema", &schema, "dead"],
        vec!["jobs", "--schema", &schema, "depth"],
    ];
    for args in runs {
        let out = haul(&args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{stderr}");
        assert_clean(&format!("{args:?}"), &stdout);
        assert!(stdout.contains(r"queue\u{7}"), "{args:?} shows the escaped queue: {stdout}");
    }
    let out = haul(&["jobs", "--schema", &schema, "get", &id, "--show-args"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains(r"kind\u{1b}[31m"), "the kind is escaped: {stdout}");
    assert!(stdout.contains(r"line one\nline two \u{1b}[2J\r"), "the error is escaped: {stdout}");
    assert!(stdout.contains("café"), "ordinary unicode is kept: {stdout}");
    assert!(stdout.contains(r"\u{9b}2J"), "C1 controls in args are escaped: {stdout}");
}
