//! What the dashboard's tests share: a freshly migrated schema per test (dropped afterwards),
//! factories that put jobs in any state directly, and requests sent through the router
//! without a server.
#![allow(dead_code)] // each test binary uses a part of it

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use haul::{Client, ClientConfig};
use http_body_util::BodyExt;
use sqlx::PgPool;
use std::time::{SystemTime, UNIX_EPOCH};
use tower::ServiceExt;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A schema of its own for one test.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: String,
    pub client: Client,
}

impl TestDb {
    pub async fn new() -> Self {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let schema = format!("hw_{secs}_{:08x}", fastrand::u32(..));
        let pool = PgPool::connect(&database_url()).await.expect("tests need PostgreSQL at DATABASE_URL");
        let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(&schema)).unwrap();
        client.migrate().await.expect("migrate");
        TestDb { pool, schema, client }
    }

    /// Runs `sql`, `{s}` standing for the schema.
    pub async fn exec(&self, sql: &str) {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await.expect("exec");
    }

    /// Dead letters: `ids` discarded with their attempts used up and the error `error`.
    pub async fn discard(&self, ids: &[i64], error: &str) {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let error = error.replace('\'', "''");
        self.exec(&format!(
            "UPDATE {{s}}.jobs SET state = 'discarded', finalized_at = now(), attempt = max_attempts,
                attempted_by = 'worker-a',
                errors = ARRAY[jsonb_build_object('at', now(), 'attempt', max_attempts, 'class', 'error',
                                                  'error', '{error}', 'worker', 'worker-a')]
             WHERE id IN ({list})"
        ))
        .await;
    }

    /// `ids` running on `worker` with a live lease.
    pub async fn run_on(&self, ids: &[i64], worker: &str) {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.exec(&format!(
            "UPDATE {{s}}.jobs SET state = 'running', attempt = 1, attempted_at = now(),
                lease_expires_at = now() + interval '1 minute', attempted_by = '{worker}'
             WHERE id IN ({list})"
        ))
        .await;
    }

    pub async fn state_of(&self, id: i64) -> Option<haul::JobState> {
        self.client.get(id).await.unwrap().map(|j| j.state)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // a runtime of its own: the test's runtime may already be shutting down
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPool::connect(&database_url()).await {
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            })
        })
        .join();
    }
}

/// A response's status, headers and body as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// Sends `req` through `app` (no server).
pub async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, path: &str) -> Answer {
    send(app, Request::get(path).header("host", "dash.test").body(Body::empty()).unwrap()).await
}

/// A same-site form POST of `form` (url-encoded pairs), as a browser on the dashboard sends it.
pub async fn post(app: &Router, path: &str, form: &[(&str, &str)]) -> Answer {
    post_with(app, path, form, &[("sec-fetch-site", "same-origin"), ("origin", "http://dash.test")]).await
}

/// A form POST with these extra headers.
pub async fn post_with(app: &Router, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::post(path)
        .header("host", "dash.test")
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = serde_urlencoded::to_string(form).unwrap();
    send(app, req.body(Body::from(body)).unwrap()).await
}

/// The CSRF token a page's forms carry.
pub fn token_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("the page has a posting form");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The dashboard's CSRF token, read from its queues page (any page with a form holds it).
pub async fn token(app: &Router) -> String {
    let page = get(app, "/jobs").await;
    token_of(&page.body)
}
