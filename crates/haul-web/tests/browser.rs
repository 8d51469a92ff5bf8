//! The dashboard in headless Chromium, driven over WebDriver (chromedriver, started here on a
//! free port) against a seeded schema: every screen loads and is written as a PNG to
//! `target/haul-web-screenshots/`, a dead job is retried and a queue paused through the UI, a
//! `<script>` in args shows as text and never runs, a cross-site form post is refused, and
//! the live refresh runs under the page's CSP. One browser session for all of it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when missing).
//! Without `chromedriver` on `PATH` it is skipped, with a note, unless `CI` is set (there it
//! fails); `HAUL_SKIP_BROWSER=1` skips it always.

mod common;

use common::TestDb;
use fantoccini::{Client, ClientBuilder, Locator};
use haul::{JobState, NewJob};
use haul_web::{Dashboard, router};
use serde_json::json;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// Longest any wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` is an executable file in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs: apt-get install chromium chromium-driver (or HAUL_SKIP_BROWSER=1)");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        sleep(Duration::from_millis(50)).await;
    }
    driver
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ];
    caps.insert("goog:chromeOptions".into(), json!({ "args": args, "binary": chromium() }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromium")
}

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: axum::Router, host: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{host}:{port}")
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("haul-web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the page's source holds `text`.
async fn until_page_has(c: &Client, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let source = c.source().await.unwrap();
        if source.contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "the page never showed {text:?}:\n{source}");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_dashboard_works_in_a_real_browser() {
    if std::env::var_os("HAUL_SKIP_BROWSER").is_some() {
        eprintln!("HAUL_SKIP_BROWSER is set: browser test skipped");
        return;
    }
    if !on_path("chromedriver") && std::env::var_os("CI").is_none() {
        eprintln!(
            "chromedriver is not on PATH: browser test skipped (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let db = TestDb::new().await;
    let mail =
        |i: i32| NewJob::raw("send_email", json!({ "to": format!("u{i}@example.com") })).with_queue("mail");
    db.client.insert_many((0..4).map(mail)).await.unwrap();
    let dead =
        db.client.insert(NewJob::raw("report", json!({ "day": 3 })).with_queue("reports")).await.unwrap();
    db.discard(&[dead], "upstream timed out after 30s").await;
    let evil_args = json!({ "note": "<script>window.__pwned = 1</script>" });
    let evil = db.client.insert(NewJob::raw("evil", evil_args).with_queue("mail")).await.unwrap();
    let running = db.client.insert(mail(9)).await.unwrap();
    db.run_on(&[running], "worker-1").await;

    // an hour of rollups, so the overview's charts have bars to draw
    db.exec(
        "INSERT INTO {s}.stats_rollups (bucket, queue, kind, completed, retried, discarded, run_time, queue_wait)
         SELECT date_trunc('minute', now()) - m * interval '1 minute', 'mail', 'send_email',
                200 + (m * 37) % 150, (m * 7) % 11, (m % 13 = 0)::int, '{}', '{}'
         FROM generate_series(0, 59) m",
    )
    .await;
    let base = serve(router(Dashboard::new(db.client.clone())), "127.0.0.1").await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let result = drive(&c, &db, &base, dead, evil).await;
    c.close().await.unwrap();
    result
}

async fn drive(c: &Client, db: &TestDb, base: &str, dead: i64, evil: i64) {
    // every screen loads; each one's screenshot is kept
    let dir = shots_dir();
    let screens = [
        ("overview", "/".to_string(), "Last hour, per minute"),
        ("queues", "/queues".into(), "Pause mail"),
        ("jobs", "/jobs?args=1".into(), "send_email"),
        ("job", format!("/jobs/{dead}"), "upstream timed out"),
        ("dead-letters", "/dead".into(), "Redrive"),
        ("workers", "/workers".into(), "worker-1"),
        ("periodic", "/periodic".into(), "Periodic jobs"),
        ("limits", "/limits".into(), "Global limits"),
    ];
    for (name, path, text) in &screens {
        c.goto(&format!("{base}{path}")).await.unwrap();
        until_page_has(c, text).await;
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    // the live refresh runs under the CSP (the script is the page's own)
    c.goto(&format!("{base}/")).await.unwrap();
    until_page_has(c, "live · ").await;

    // a dead job retried through its page
    c.goto(&format!("{base}/jobs/{dead}")).await.unwrap();
    c.find(Locator::Css(r#"form[action$="/retry"] button"#)).await.unwrap().click().await.unwrap();
    until_page_has(c, r#"state-available"#).await;
    assert_eq!(db.state_of(dead).await, Some(JobState::Available));

    // a queue paused through the queues page
    c.goto(&format!("{base}/queues")).await.unwrap();
    c.find(Locator::Css(r#"form[action$="/queues/mail/pause"] button"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_page_has(c, "Resume mail").await;
    assert!(db.client.queues().await.unwrap().iter().any(|q| q.name == "mail" && q.paused));

    // a <script> in args is shown as text and never runs
    c.goto(&format!("{base}/jobs/{evil}")).await.unwrap();
    c.find(Locator::Id("show-args")).await.unwrap().click().await.unwrap();
    until_page_has(c, "&lt;script&gt;").await;
    let shown = c.find(Locator::Id("args")).await.unwrap().text().await.unwrap();
    assert!(shown.contains("<script>window.__pwned = 1</script>"), "{shown}");
    let pwned = c.execute("return window.__pwned === undefined", vec![]).await.unwrap();
    assert_eq!(pwned, json!(true), "the args' script never ran");

    cross_site_post_is_refused(c, db, base).await;
}

/// A page of another origin posts a form (with a real token even) to the dashboard: the
/// browser marks it cross-site and the dashboard refuses it.
async fn cross_site_post_is_refused(c: &Client, db: &TestDb, base: &str) {
    c.goto(&format!("{base}/jobs")).await.unwrap();
    let token = common::token_of(&c.source().await.unwrap());
    let target = format!("{base}/queues/reports/pause");
    let page = format!(
        r#"<!doctype html><form method="post" action="{target}"><input type="hidden" name="csrf" value="{token}"><button id="go">go</button></form>"#
    );
    let evil =
        axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    let evil_base = serve(evil, "localhost").await; // another origin than 127.0.0.1
    c.goto(&evil_base).await.unwrap();
    c.find(Locator::Id("go")).await.unwrap().click().await.unwrap();
    until_page_has(c, "cross-site request refused").await;
    let reports = db.client.queues().await.unwrap().into_iter().find(|q| q.name == "reports").unwrap();
    assert!(!reports.paused, "the cross-site post paused nothing");
}
