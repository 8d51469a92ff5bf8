//! `haul demo` only ever drops a schema it created itself: `public` and a real queue's schema
//! are refused even with `--force`, any other schema it did not create needs `--force`, and
//! its own schema is reset on every run.

mod common;

use common::*;

/// A database of the test's own, so nothing else lives in its `public` schema.
struct Database {
    name: String,
    url: String,
}

impl Database {
    fn create() -> Self {
        let name = unique("haul_cli_demo_db");
        sql(&format!("CREATE DATABASE \"{name}\""));
        let mut url = url::Url::parse(&database_url()).unwrap();
        url.set_path(&name);
        Database { name, url: url.to_string() }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        sql(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
    }
}

fn table_exists(url: &str, table: &str) -> bool {
    query_at(url, &format!("SELECT to_regclass('{table}')::text")).is_some()
}

#[test]
fn public_is_refused_even_with_force() {
    let db = Database::create();
    sql_at(&db.url, "CREATE TABLE public.precious (id int)");
    for args in
        [&["demo", "--schema", "public", "--emails", "1"][..], &["demo", "--schema", "public", "--force"]]
    {
        let out = haul_at(&db.url, args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} is refused:\n{stdout}\n{stderr}");
        assert!(stderr.contains("public"), "the refusal names the schema: {stderr}");
        assert!(table_exists(&db.url, "public.precious"), "{args:?} left public alone");
    }
}

#[test]
fn a_real_queue_schema_is_refused_even_with_force() {
    let schema = unique("haul_cli_queue");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let out = haul(&["jobs", "--schema", &schema, "list"]);
    assert!(out.status.success(), "the queue is usable: {:?}", text(&out));
    sql(&format!(
        "INSERT INTO \"{schema}\".jobs (kind, queue, args, max_attempts, state) VALUES ('k', 'q', '{{}}', 1, 'available')"
    ));
    for force in [false, true] {
        let mut args = vec!["demo", "--schema", &schema, "--emails", "1"];
        args.extend(force.then_some("--force"));
        let out = haul(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} is refused:\n{stdout}\n{stderr}");
        assert!(stderr.contains("jobs table"), "the refusal says why: {stderr}");
        let kept = query(&format!("SELECT count(*)::text FROM \"{schema}\".jobs"));
        assert_eq!(kept.as_deref(), Some("1"), "{args:?} kept the queue's job");
    }
}

#[test]
fn a_foreign_schema_needs_force_and_the_demo_schema_is_then_its_own() {
    let schema = unique("haul_cli_foreign");
    let _cleanup = DropSchema(schema.clone());
    sql(&format!("CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".notes (id int)"));
    let out = haul(&["demo", "--schema", &schema, "--emails", "1"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "refused without --force:\n{stdout}\n{stderr}");
    assert!(stderr.contains("--force"), "the refusal says how to go on: {stderr}");
    assert!(table_exists(&database_url(), &format!("{schema}.notes")), "the schema was left alone");

    for args in [
        &["demo", "--schema", &schema, "--emails", "1", "--force"][..],
        &["demo", "--schema", &schema, "--emails", "1"],
    ] {
        let out = haul(args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?} runs:\n{stdout}\n{stderr}");
        assert!(stdout.contains("Done in"), "{args:?} ends with its summary: {stdout}");
    }
    assert!(!table_exists(&database_url(), &format!("{schema}.notes")), "--force reset the schema");
}
