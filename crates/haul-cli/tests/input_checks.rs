//! Numbers on the command line are checked by clap before use: out-of-range counts, limits
//! and ids exit 2 with a message naming the flag, and nothing reaches the database.

mod common;

use common::*;

fn assert_rejected(args: &[&str], flag: &str) {
    let out = haul(args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error:\n{stdout}\n{stderr}");
    assert!(stderr.contains(flag), "{args:?}: the message names {flag}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} does not panic: {stderr}");
}

#[test]
fn the_demo_checks_its_sizes() {
    let schema = unique("haul_cli_sizes");
    let _cleanup = DropSchema(schema.clone());
    assert_rejected(&["demo", "--schema", &schema, "--emails", "18446744073709551615"], "--emails");
    assert_rejected(&["demo", "--schema", &schema, "--emails", "2000000"], "--emails");
}

#[test]
fn jobs_checks_limits_and_ids() {
    let schema = unique("haul_cli_limits");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    for limit in ["--limit=-1", "--limit=0", "--limit=99999999999"] {
        assert_rejected(&["jobs", "--schema", &schema, "list", limit], "--limit");
        assert_rejected(&["jobs", "--schema", &schema, "dead", limit], "--limit");
    }
    // `show` needs an ID; the actions take one or a filter
    for (action, id) in
        [("show", "<ID>"), ("get", "<ID>"), ("retry", "[ID]"), ("cancel", "[ID]"), ("delete", "[ID]")]
    {
        assert_rejected(&["jobs", "--schema", &schema, action, "0"], id);
        assert_rejected(&["jobs", "--schema", &schema, action, "--", "-5"], id);
    }
    assert_rejected(&["jobs", "--schema", &schema, "list", "--before", "0"], "--before");
    assert_rejected(&["dead", "--schema", &schema, "list", "--limit", "0"], "--limit");
}
