//! The dashboard's router against a seeded schema, without a server
//! (`tower::ServiceExt::oneshot`): every screen, and every security rule.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestDb, get, post, post_with, send, token};
use haul::testing::{Drain, drain};
use haul::{Batch, Job, JobContext, JobError, JobState, Limit, NewJob, Saga, Worker, Workflow};
use haul_web::{Auth, Dashboard, router};
use serde_json::json;
use std::time::Duration;

/// A schema with jobs in several states on queues `mail` and `reports`.
struct Seeded {
    db: TestDb,
    available: Vec<i64>,
    dead: Vec<i64>,
    running: i64,
}

async fn seeded() -> Seeded {
    let db = TestDb::new().await;
    let job = |q: &'static str, i: i32| {
        NewJob::raw("send_email", json!({ "to": format!("u{i}@example.com") })).with_queue(q)
    };
    let available = db.client.insert_many((0..3).map(|i| job("mail", i))).await.unwrap();
    let dead = db.client.insert_many((0..2).map(|i| job("reports", i))).await.unwrap();
    db.discard(&dead, "smtp said <b>no</b>").await;
    let running = db.client.insert(job("mail", 9)).await.unwrap();
    db.run_on(&[running], "worker-b").await;
    Seeded { db, available, dead, running }
}

fn app(db: &TestDb) -> Router {
    router(Dashboard::new(db.client.clone()))
}

#[tokio::test]
async fn every_screen_renders_the_seeded_queue() {
    let s = seeded().await;
    let app = app(&s.db);
    let job = format!("/jobs/{}", s.dead[0]);
    let pages: [(&str, &[&str]); 9] = [
        ("/", &["Overview", "mail", "reports", "<svg", "completed"]),
        ("/queues", &["mail", "reports", "Pause mail"]),
        ("/jobs", &["send_email", "Retry…", &format!("/jobs/{}", s.available[0])]),
        (&job, &["Job ", "smtp said", "worker-a", "Show args"]),
        ("/dead", &["Dead letters", "Redrive…", "Purge…", "smtp said"]),
        ("/workers", &["worker-b", "none elected"]),
        ("/periodic", &["No periodic schedule yet"]),
        ("/limits", &["Global limits", "No global limits"]),
        ("/assets/app.js", &["X-Haul-Live"]),
    ];
    for (path, wanted) in pages {
        let page = get(&app, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        for w in wanted {
            assert!(page.body.contains(w), "{path} lacks {w:?}:\n{}", page.body);
        }
    }
    let css = get(&app, "/assets/app.css").await;
    assert_eq!((css.status, css.header("content-type")), (StatusCode::OK, "text/css; charset=utf-8"));
    assert_eq!(get(&app, "/assets/nope.js").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/jobs/999999").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_response_carries_csp_no_frames_and_no_store() {
    let s = seeded().await;
    let app = app(&s.db);
    let guarded = router(Dashboard::new(s.db.client.clone()).with_auth(Auth::Token("t".into())));
    for page in [get(&app, "/").await, get(&app, "/nope").await, get(&guarded, "/").await] {
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("cache-control"), "no-store");
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn a_script_in_args_or_errors_shows_as_text() {
    let s = seeded().await;
    let evil = "<script>alert(1)</script>";
    let id =
        s.db.client.insert(NewJob::raw("evil", json!({ "note": evil })).with_queue("mail")).await.unwrap();
    s.db.discard(&[id], "<img src=x onerror=alert(2)>").await;
    let app = app(&s.db);
    for path in [format!("/jobs/{id}?args=1"), "/jobs?args=1".into(), "/dead".into(), format!("/jobs/{id}")] {
        let page = get(&app, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert") && !page.body.contains("<img src=x"),
            "{path}:\n{}",
            page.body
        );
    }
    let detail = get(&app, &format!("/jobs/{id}?args=1")).await.body;
    assert!(detail.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{detail}");
    assert!(detail.contains("&lt;img src=x onerror=alert(2)&gt;"), "{detail}");
    let bad = get(&app, "/jobs?state=%3Cscript%3E").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("&lt;script&gt;") && !bad.body.contains("<script>"), "{}", bad.body);
}

#[tokio::test]
async fn args_are_hidden_until_asked_for_and_cut_short_in_lists() {
    let s = seeded().await;
    let long = "x".repeat(500);
    let id =
        s.db.client.insert(NewJob::raw("long", json!({ "blob": long, "secret": "hunter2" }))).await.unwrap();
    let app = app(&s.db);
    assert!(!get(&app, &format!("/jobs/{id}")).await.body.contains("hunter2"));
    assert!(!get(&app, "/jobs").await.body.contains("hunter2"));
    assert!(get(&app, &format!("/jobs/{id}?args=1")).await.body.contains("hunter2"));
    let listed = get(&app, "/jobs?kind=long&args=1").await.body;
    assert!(listed.contains(&format!("{}…", &"x".repeat(50))), "{listed}");
    assert!(!listed.contains(&long), "a list shows at most a preview of the args");
}

#[tokio::test]
async fn a_queue_pauses_and_resumes_by_post_with_the_token() {
    let s = seeded().await;
    let app = app(&s.db);
    let csrf = token(&app).await;
    let done = post(&app, "/queues/mail/pause", &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.header("location")), (StatusCode::SEE_OTHER, "/queues"));
    let paused = |name: &'static str| {
        let client = s.db.client.clone();
        async move { client.queues().await.unwrap().into_iter().find(|q| q.name == name).unwrap().paused }
    };
    assert!(paused("mail").await);
    assert!(get(&app, "/queues").await.body.contains("Resume mail"));
    post(&app, "/queues/mail/resume", &[("csrf", &csrf)]).await;
    assert!(!paused("mail").await);
    let bad = post(&app, "/queues/no%20spaces/pause", &[("csrf", &csrf)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let s = seeded().await;
    let app = app(&s.db);
    let csrf = token(&app).await;
    let form = [("csrf", csrf.as_str())];
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
    ] {
        let refused = post_with(&app, "/queues/mail/pause", &form, headers).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(refused.body.contains("cross-site request refused"), "{}", refused.body);
    }
    assert!(s.db.client.queues().await.unwrap().iter().all(|q| !q.paused), "nothing was paused");
}

#[tokio::test]
async fn a_post_without_the_token_is_refused() {
    let s = seeded().await;
    let app = app(&s.db);
    for form in [&[][..], &[("csrf", "0000")]] {
        let refused = post(&app, &format!("/jobs/{}/retry", s.dead[0]), form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body.contains("form token"), "{}", refused.body);
    }
    assert_eq!(s.db.state_of(s.dead[0]).await, Some(JobState::Discarded));
    let other = router(Dashboard::new(s.db.client.clone()));
    let foreign = token(&other).await;
    let refused = post(&app, &format!("/jobs/{}/retry", s.dead[0]), &[("csrf", &foreign)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "another dashboard's token is no token here");
}

#[tokio::test]
async fn get_never_mutates() {
    let s = seeded().await;
    let app = app(&s.db);
    for path in ["/queues/mail/pause".to_string(), format!("/jobs/{}/retry", s.dead[0]), "/jobs/bulk".into()]
    {
        assert_eq!(get(&app, &path).await.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    assert_eq!(s.db.state_of(s.dead[0]).await, Some(JobState::Discarded));
}

#[tokio::test]
async fn read_only_refuses_every_action_and_draws_no_button() {
    let s = seeded().await;
    let app = router(Dashboard::new(s.db.client.clone()).with_read_only(true));
    for path in ["/", "/queues", "/jobs", "/dead", &format!("/jobs/{}", s.dead[0])] {
        let page = get(&app, path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains(r#"method="post""#), "{path} draws a posting form");
    }
    let writable = router(Dashboard::new(s.db.client.clone()));
    let csrf = token(&writable).await;
    for path in ["/queues/mail/pause".to_string(), format!("/jobs/{}/retry", s.dead[0]), "/jobs/bulk".into()]
    {
        let refused = post(&app, &path, &[("csrf", &csrf), ("action", "redrive"), ("expected", "2")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("read-only"));
    }
    assert_eq!(s.db.state_of(s.dead[0]).await, Some(JobState::Discarded));
}

#[tokio::test]
async fn auth_asks_for_credentials_and_takes_them_in_constant_time() {
    let s = seeded().await;
    let app = router(Dashboard::new(s.db.client.clone()).with_auth(Auth::Token("s3cret".into())));
    let asked = get(&app, "/").await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert!(asked.header("www-authenticate").starts_with("Basic"));
    let with =
        |value: &str| Request::get("/queues").header("authorization", value).body(Body::empty()).unwrap();
    assert_eq!(send(&app, with("Bearer s3cret")).await.status, StatusCode::OK);
    assert_eq!(send(&app, with("Basic dTpzM2NyZXQ=")).await.status, StatusCode::OK, "u:s3cret");
    assert_eq!(send(&app, with("Bearer s3cre")).await.status, StatusCode::UNAUTHORIZED);
    let css = send(&app, Request::get("/assets/app.css").body(Body::empty()).unwrap()).await;
    assert_eq!(css.status, StatusCode::UNAUTHORIZED, "assets are behind auth too");
}

#[tokio::test]
async fn a_bulk_redrive_confirms_its_count_before_it_runs() {
    let s = seeded().await;
    let app = app(&s.db);
    let csrf = token(&app).await;
    let ask = post(&app, "/jobs/bulk", &[("csrf", &csrf), ("action", "redrive"), ("queue", "reports")]).await;
    assert_eq!(ask.status, StatusCode::OK, "{}", ask.body);
    assert!(ask.body.contains(r#"<strong id="count">2</strong>"#), "{}", ask.body);
    assert!(ask.body.contains("Yes, redrive 2 jobs"));
    assert_eq!(s.db.state_of(s.dead[0]).await, Some(JobState::Discarded), "a count changes nothing");
    let form = [("csrf", csrf.as_str()), ("action", "redrive"), ("queue", "reports"), ("expected", "2")];
    let done = post(&app, "/jobs/bulk", &form).await;
    assert!(done.body.contains("<strong>2</strong> jobs changed"), "{}", done.body);
    for id in &s.dead {
        assert_eq!(s.db.state_of(*id).await, Some(JobState::Available));
    }
}

#[tokio::test]
async fn bulk_input_is_checked_before_anything_changes() {
    let s = seeded().await;
    let app = app(&s.db);
    let csrf = token(&app).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("action", "purge")],
        &[("action", "explode")],
        &[("action", "delete"), ("older", "soon")],
        &[("action", "redrive"), ("state", "running"), ("expected", "1")],
    ];
    for fields in cases {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let refused = post(&app, "/jobs/bulk", &form).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", refused.body);
    }
    let purge = post(&app, "/jobs/bulk", &[("csrf", &csrf), ("action", "purge"), ("older", "1h")]).await;
    assert!(purge.body.contains(r#"<strong id="count">0</strong>"#), "just discarded: {}", purge.body);
    assert_eq!(s.db.client.list(None, None, 100).await.unwrap().len(), 6, "nothing deleted");
}

#[tokio::test]
async fn one_job_is_retried_cancelled_and_deleted_by_post() {
    let s = seeded().await;
    let app = app(&s.db);
    let csrf = token(&app).await;
    let dead = s.dead[0];
    let done = post(&app, &format!("/jobs/{dead}/retry"), &[("csrf", &csrf)]).await;
    assert_eq!(
        (done.status, done.header("location")),
        (StatusCode::SEE_OTHER, format!("/jobs/{dead}").as_str())
    );
    assert_eq!(s.db.state_of(dead).await, Some(JobState::Available));
    post(&app, &format!("/jobs/{dead}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(s.db.state_of(dead).await, Some(JobState::Cancelled));
    let gone = post(&app, &format!("/jobs/{dead}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(gone.header("location"), "/jobs");
    assert_eq!(s.db.state_of(dead).await, None);
    let running = post(&app, &format!("/jobs/{}/delete", s.running), &[("csrf", &csrf)]).await;
    assert_eq!(running.status, StatusCode::CONFLICT, "a running job is not deleted: {}", running.body);
}

#[tokio::test]
async fn jobs_page_by_keyset_with_a_capped_size() {
    let s = seeded().await;
    let app = app(&s.db);
    let mut ids = s.available.clone();
    ids.push(s.running);
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let first = get(&app, "/jobs?queue=mail&limit=2").await.body;
    let next = format!("before={}", ids[1]);
    assert!(first.contains(&next), "{first}");
    assert!(
        first.contains(&format!("/jobs/{}\"", ids[0])) && !first.contains(&format!("/jobs/{}\"", ids[2]))
    );
    let second = get(&app, &format!("/jobs?queue=mail&limit=2&{next}")).await.body;
    assert!(
        second.contains(&format!("/jobs/{}\"", ids[2])) && second.contains(&format!("/jobs/{}\"", ids[3]))
    );
    assert!(!second.contains("older »"), "the last page links no further");
    for bad in ["limit=201", "limit=0", "before=x", "older=soon"] {
        assert_eq!(get(&app, &format!("/jobs?{bad}")).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn nested_under_a_path_every_link_and_form_follows_it() {
    let s = seeded().await;
    let app = Router::new().nest("/admin/haul", router(Dashboard::new(s.db.client.clone())));
    let page = get(&app, "/admin/haul/jobs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"href="/admin/haul/assets/app.css""#), "{}", page.body);
    assert!(page.body.contains(&format!(r#"href="/admin/haul/jobs/{}""#, s.available[0])));
    assert!(page.body.contains(r#"action="/admin/haul/jobs/bulk""#));
    assert_eq!(get(&app, "/admin/haul").await.status, StatusCode::OK);
    let csrf = common::token_of(&page.body);
    let done = post(&app, "/admin/haul/queues/mail/pause", &[("csrf", &csrf)]).await;
    assert_eq!(done.header("location"), "/admin/haul/queues");
}

#[tokio::test]
async fn a_live_refresh_gets_the_live_part_only() {
    let s = seeded().await;
    let app = app(&s.db);
    for path in ["/", "/queues", "/workers", "/periodic", "/limits"] {
        let req = Request::get(path).header("x-haul-live", "1").body(Body::empty()).unwrap();
        let part = send(&app, req).await;
        assert_eq!(part.status, StatusCode::OK);
        assert!(!part.body.contains("<html") && !part.body.contains("<nav"), "{path}: {}", part.body);
        assert!(get(&app, path).await.body.contains("data-live="), "{path} marks its live part");
    }
}

#[tokio::test]
async fn the_workers_screen_names_the_leader_and_who_runs_what() {
    let s = seeded().await;
    s.db.exec(
        "INSERT INTO {s}.leader (name, leader_id, elected_at, expires_at)
         VALUES ('maintenance', 'worker-lead', now(), now() + interval '1 minute')",
    )
    .await;
    let page = get(&app(&s.db), "/workers").await.body;
    assert!(page.contains(r#"<strong id="leader">worker-lead</strong>"#), "{page}");
    assert!(page.contains("<td>worker-b</td><td>mail</td><td class=\"num\">1</td>"), "{page}");
}

#[tokio::test]
async fn allowed_hosts_refuse_any_other_host() {
    let s = seeded().await;
    let app = router(Dashboard::new(s.db.client.clone()).with_allowed_hosts(["localhost", "[::1]"]));
    let at = |host: &str| Request::get("/").header("host", host).body(Body::empty()).unwrap();
    assert_eq!(send(&app, at("localhost:8080")).await.status, StatusCode::OK);
    assert_eq!(send(&app, at("[::1]:8080")).await.status, StatusCode::OK);
    let refused = send(&app, at("rebound.example:8080")).await;
    assert_eq!(refused.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(refused.header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(
        send(&app, Request::get("/").body(Body::empty()).unwrap()).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
}

/// A workflow step that completes, or fails for good when told to.
#[derive(serde::Serialize, serde::Deserialize)]
struct Step {
    fail: bool,
}
impl Job for Step {
    const KIND: &'static str = "step";
}

async fn step(_: JobContext<()>, job: Step) -> Result<(), JobError> {
    if job.fail { Err(JobError::discard("told to fail")) } else { Ok(()) }
}

fn on_flow(fail: bool) -> NewJob {
    NewJob::new(&Step { fail }).with_queue("flow")
}

/// Runs every job on queue `flow` through a real worker's stages until none is left, so
/// batches and sagas settle as they do in production.
async fn drain_flow(db: &TestDb) {
    let worker = Worker::builder(db.client.clone(), ()).queue("flow", 1).handler(step).build().unwrap();
    drain(&worker, Drain::queue("flow")).await;
}

#[tokio::test]
async fn a_job_links_its_batch_saga_and_what_it_waits_on() {
    let s = seeded().await;
    let c = &s.db.client;
    let batch = c.insert_batch(Batch::new([on_flow(false), on_flow(true)])).await.unwrap();
    let saga = Saga::new().step_with_compensation(on_flow(false), on_flow(false)).step(on_flow(true));
    let saga = c.insert_saga(saga).await.unwrap();
    let chain = c.insert_workflow(Workflow::chain([on_flow(false), on_flow(false)])).await.unwrap();
    let (first, second) = (chain.id("0").unwrap(), chain.id("1").unwrap());
    let app = app(&s.db);

    let child = get(&app, &format!("/jobs/{}", batch.children[1])).await.body;
    assert!(child.contains(&format!(r#"href="/batches/{}""#, batch.id)), "{child}");
    let step = get(&app, &format!("/jobs/{}", saga.steps[1])).await.body;
    assert!(step.contains(&format!(r#"href="/sagas/{}">saga {}</a>, step 1"#, saga.id, saga.id)), "{step}");
    let waiting = get(&app, &format!("/jobs/{second}")).await.body;
    assert!(waiting.contains("waits on"), "{waiting}");
    assert!(waiting.contains(&format!(r#"href="/jobs/{first}">job {first}</a>"#)), "{waiting}");
    let plain = get(&app, &format!("/jobs/{}", s.available[0])).await.body;
    assert!(!plain.contains(r#"id="workflow""#), "a plain job shows no workflow: {plain}");
}

#[tokio::test]
async fn batch_and_saga_pages_show_their_progress_and_404_when_unknown() {
    let s = seeded().await;
    let c = &s.db.client;
    let callback = NewJob::raw("report", json!({})).with_queue("later");
    let children = [on_flow(false), on_flow(false), on_flow(true)];
    let batch = c.insert_batch(Batch::new(children).with_callback(callback)).await.unwrap();
    let saga = Saga::new().step_with_compensation(on_flow(false), on_flow(false)).step(on_flow(true));
    let saga = c.insert_saga(saga).await.unwrap();
    let app = app(&s.db);

    let running = get(&app, &format!("/batches/{}", batch.id)).await;
    assert_eq!(running.status, StatusCode::OK, "{}", running.body);
    assert!(running.body.contains("<dd>running</dd>") && running.body.contains("state-available"));
    assert!(get(&app, &format!("/sagas/{}", saga.id)).await.body.contains("<dd>running</dd>"));

    drain_flow(&s.db).await;
    let b = c.batch(batch.id).await.unwrap().unwrap();
    let cb = b.callback_id.expect("a finished batch inserts its callback");
    let done = get(&app, &format!("/batches/{}", batch.id)).await.body;
    assert!(done.contains("<dd>finished</dd>"), "{done}");
    assert!(done.contains("2 completed, 1 discarded, 0 cancelled"), "{done}");
    assert!(done.contains(&format!(r#"href="/jobs/{cb}">job {cb}</a>"#)), "{done}");
    assert!(done.contains("completed, deleted</td><td class=\"num\">2</td>"), "{done}");

    let info = c.saga(saga.id).await.unwrap().unwrap();
    let comp = info.compensations[0].id;
    let page = get(&app, &format!("/sagas/{}", saga.id)).await.body;
    assert!(page.contains("<dd>compensated</dd>") && page.contains("failed for good"), "{page}");
    assert!(page.contains(&format!(r#"href="/jobs/{}">job {}</a>"#, saga.steps[1], saga.steps[1])), "{page}");
    assert!(page.contains(&format!("job {comp}")), "{page}");

    for path in ["/batches/999999", "/sagas/999999", "/batches/x"] {
        let missing = get(&app, path).await;
        assert_ne!(missing.status, StatusCode::OK, "{path}");
        assert!(missing.status.is_client_error(), "{path}: {}", missing.status);
    }
    let missing = get(&app, "/batches/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("batch 999999 not found"), "{}", missing.body);
    assert_eq!(get(&app, "/sagas/999999").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_limits_screen_lists_every_queue_limit_without_a_form() {
    let s = seeded().await;
    let c = &s.db.client;
    c.set_limit("mail", &Limit::concurrency(5)).await.unwrap();
    let partner = Limit::rate(100, Duration::from_secs(60)).with_concurrency(2);
    c.set_limit("partner", &partner.partitioned_by_kind().partitioned_by_arg("<b>t</b>")).await.unwrap();
    let page = get(&app(&s.db), "/limits").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(r#"aria-current="page">Limits</a>"#), "in the nav: {body}");
    assert!(body.contains(r#"<a href="/jobs?queue=mail">mail</a></td><td class="num">5</td><td class="num">-</td><td>-</td><td>whole queue</td>"#), "{body}");
    assert!(body.contains(r#"<td class="num">2</td><td class="num">100</td><td>1m</td><td>kind + args.&lt;b&gt;t&lt;/b&gt;</td>"#), "{body}");
    assert!(!body.contains("<b>t</b>"), "a partition key shows as text: {body}");
    assert!(!body.contains(r#"method="post""#), "read-only: {body}");
}
