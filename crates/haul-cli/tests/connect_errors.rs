//! Connection failures say which one it was (refused, authentication failed, unknown
//! database, not a PostgreSQL URL) and what to do about it; passwords never reach the output
//! in any form of connection string; each cause is printed once; `migrate print` needs no
//! database.

mod common;

use common::*;
use std::process::Command;

/// The test server's URL with one part changed.
fn changed(change: impl FnOnce(&mut url::Url)) -> String {
    let mut url = url::Url::parse(&database_url()).unwrap();
    change(&mut url);
    url.to_string()
}

/// Runs `jobs list` against `url`; returns stderr after checking it failed with exit 1.
fn failure(url: &str) -> String {
    let out = haul_at(url, &["jobs", "list"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{url} fails:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("secret"), "the password is not shown: {stderr}");
    stderr
}

#[test]
fn refused_says_so_and_how_to_start_a_server() {
    let url = changed(|u| {
        u.set_port(Some(9)).unwrap();
        u.set_password(Some("secret")).unwrap();
    });
    let stderr = failure(&url);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains("start a server"), "{stderr}");
}

#[test]
fn authentication_failed_says_so_and_what_to_check() {
    let url = changed(|u| {
        u.set_username("haul_cli_nobody").unwrap();
        u.set_password(Some("secret")).unwrap();
    });
    let stderr = failure(&url);
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(stderr.contains("user name and password"), "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "the cause is printed once: {stderr}");
}

#[test]
fn an_unknown_database_says_so_and_how_to_create_it() {
    let url = changed(|u| u.set_path("haul_cli_no_such_db"));
    let stderr = failure(&url);
    assert!(stderr.contains("database \"haul_cli_no_such_db\" does not exist"), "{stderr}");
    assert!(stderr.contains("createdb haul_cli_no_such_db"), "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "the cause is printed once: {stderr}");
}

#[test]
fn a_url_that_is_not_postgresql_says_so() {
    for url in [
        "garbage",
        "mysql://root:secret@127.0.0.1/shop",
        "host=127.0.0.1 port=9 user=postgres password=secret",
    ] {
        let stderr = failure(url);
        assert!(stderr.contains("not a PostgreSQL URL"), "{url}: {stderr}");
        assert!(stderr.contains("postgres://"), "{url}: the expected form is shown: {stderr}");
    }
}

#[test]
fn passwords_in_query_parameters_are_redacted() {
    let url = changed(|u| {
        u.set_port(Some(9)).unwrap();
        u.set_query(Some("sslmode=disable&password=secret"));
    });
    let stderr = failure(&url);
    assert!(stderr.contains("password=***"), "{stderr}");
}

#[test]
fn help_does_not_show_the_password_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_haul"))
        .arg("--help")
        .env("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:5432/postgres")
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(!stdout.contains("secret"), "{stdout}");
}

#[test]
fn migrate_print_needs_no_database() {
    let out = Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(["migrate", "print"])
        .env("DATABASE_URL", "garbage")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("CREATE TABLE \"haul\".jobs"), "{stdout}");
}
