//! What the CLI tests share: the server to use, unique schema names, running the built
//! `haul` binary, and a few SQL statements run directly against PostgreSQL.
#![allow(dead_code)] // each test file uses a part of it

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// The server to run against, as the library's tests choose it.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A schema (or database) name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// `haul --database-url URL ARGS...`, run to the end.
pub fn haul_at(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haul"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the haul binary runs")
}

/// `haul ARGS...` against the test server.
pub fn haul(args: &[&str]) -> Output {
    haul_at(&database_url(), args)
}

/// The output's stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs one or more SQL statements on `url`.
pub fn sql_at(url: &str, statements: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.expect("the test server answers");
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned())).execute(&pool).await.expect(statements);
        pool.close().await;
    });
}

/// Runs SQL statements on the test server.
pub fn sql(statements: &str) {
    sql_at(&database_url(), statements)
}

/// One text value from `query` on `url`.
pub fn query_at(url: &str, query: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.expect("the test server answers");
        let value = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned())).fetch_one(&pool).await;
        pool.close().await;
        value.expect(query)
    })
}

/// One text value from `query` on the test server.
pub fn query(query: &str) -> Option<String> {
    query_at(&database_url(), query)
}

/// A `haul migrate up` of `schema`, which must succeed.
pub fn migrate(schema: &str) {
    let out = haul(&["migrate", "--schema", schema, "up"]);
    assert!(out.status.success(), "migrate up failed: {:?}", text(&out));
}

/// Drops the schema when the test ends, passed or failed.
pub struct DropSchema(pub String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        sql(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0));
    }
}
