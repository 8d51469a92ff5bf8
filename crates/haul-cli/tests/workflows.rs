//! `haul batches show`, `haul sagas show` and `haul jobs show` on workflows: a batch's children
//! by state, a saga's steps, what a step waits on; a missing batch or saga exits 1.

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

/// Inserts `saga` into `schema` through the library; its id and its steps' ids.
fn insert_saga(schema: &str, saga: haul::Saga) -> (i64, Vec<i64>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&database_url()).await.expect("the test server answers");
        let config = haul::ClientConfig::default().with_schema(schema);
        let saga = haul::Client::with_config(pool, config).unwrap().insert_saga(saga).await.unwrap();
        (saga.id, saga.steps)
    })
}

#[test]
fn a_saga_shows_its_steps_and_a_step_what_it_waits_on() {
    let schema = unique("haul_cli_sagas");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let job = |kind: &str| haul::NewJob::raw(kind, serde_json::json!({}));
    let saga = haul::Saga::new().step_with_compensation(job("reserve"), job("release")).step(job("charge"));
    let (id, steps) = insert_saga(&schema, saga);

    let out = haul(&["sagas", "--schema", &schema, "show", &id.to_string()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("saga {id}  running")), "{stdout}");
    assert!(stdout.contains(&format!("step 1  job {} (pending)", steps[1])), "{stdout}");

    let out = haul(&["jobs", "--schema", &schema, "show", &steps[1].to_string()]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains(&format!("waits on {} (available)", steps[0])), "{stdout}");
    assert!(stdout.contains(&format!("saga     {id}, step 1")), "{stdout}");
    let out = haul(&["jobs", "--schema", &schema, "show", &steps[1].to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(text(&out).0.trim()).expect("JSON");
    assert_eq!(v["waits_on"][0]["id"].as_i64(), Some(steps[0]));

    let out = haul(&["sagas", "--schema", &schema, "show", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("saga 999 not found"));
}
