//! With allowed hosts configured, a request naming another `Host` is refused (421) before
//! anything else: a site that a DNS trick points at the dashboard's address is not its host.

use crate::app::Shared;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub(crate) async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let Some(hosts) = &app.hosts else { return next.run(req).await };
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(name);
    match host {
        Some(h) if hosts.iter().any(|a| a.eq_ignore_ascii_case(h)) => next.run(req).await,
        _ => {
            let status = StatusCode::MISDIRECTED_REQUEST;
            (status, crate::render::error_page(status, "this dashboard does not answer for that host"))
                .into_response()
        }
    }
}

/// The name of a `Host` value without its port: `[::1]` of `[::1]:8080`, `a` of `a:80`.
fn name(host: &str) -> &str {
    match host.find(']') {
        Some(end) if host.starts_with('[') => &host[..=end],
        _ => host.split(':').next().unwrap_or(host),
    }
}

#[cfg(test)]
mod tests {
    use super::name;

    #[test]
    fn the_port_is_left_out() {
        assert_eq!(name("localhost:8080"), "localhost");
        assert_eq!(name("127.0.0.1"), "127.0.0.1");
        assert_eq!(name("[::1]:8080"), "[::1]");
        assert_eq!(name("[::1]"), "[::1]");
    }
}
