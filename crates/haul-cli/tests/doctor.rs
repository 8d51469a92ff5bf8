//! `haul doctor`: a migrated schema passes (exit 0, every check named in the JSON); a schema
//! with no tables or with a broken index fails with what to run (exit 1). And
//! `haul completions` prints a script that knows the subcommands.

mod common;

use common::*;

#[test]
fn doctor_passes_a_migrated_schema_and_names_the_fix_for_a_broken_one() {
    let schema = unique("haul_cli_doctor");
    let _cleanup = DropSchema(schema.clone());
    let missing = haul(&["doctor", "--schema", &schema]);
    let (out, err) = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("FAIL  schema") && out.contains(&format!("haul migrate up --schema {schema}")),
        "{out}"
    );

    migrate(&schema);
    let healthy = haul(&["doctor", "--schema", &schema, "--json"]);
    let (out, err) = text(&healthy);
    assert!(healthy.status.success(), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let names: Vec<&str> =
        report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for name in ["server", "schema", "indexes", "jobs table", "synchronous_commit", "open transactions"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert_ne!(report["worst"], "fail", "{out}");

    drop_index(&format!("\"{schema}\".jobs_due"));
    let broken = haul(&["doctor", "--schema", &schema]);
    let (out, _) = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  indexes: jobs_due is missing"), "{out}");
}

#[test]
fn completions_cover_every_subcommand() {
    let bash = haul(&["completions", "bash"]);
    let (out, err) = text(&bash);
    assert!(bash.status.success(), "{err}");
    for sub in ["migrate", "demo", "jobs", "enqueue", "doctor"] {
        assert!(out.contains(sub), "{sub} missing from the bash completions");
    }
    let bad = haul(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

fn drop_index(name: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&database_url()).await.expect("the test server answers");
        let sql = format!("DROP INDEX {name}");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("DROP INDEX");
        pool.close().await;
    })
}
