//! Every POST is refused in read-only mode, when the browser says it comes from another site
//! (`Sec-Fetch-Site`, or an `Origin` other than the `Host`), and without the form's CSRF token.
//! GET never changes anything, so only POST needs the guard.

use super::same;
use crate::app::Shared;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The largest form body accepted.
const FORM_MAX: usize = 16 * 1024;
/// The form field carrying the token.
pub(crate) const FIELD: &str = "csrf";

/// 32 random bytes as hex.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source answers");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lets a POST through only when writable, same-site and carrying the token.
pub(crate) async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    if app.read_only {
        return refuse(StatusCode::FORBIDDEN, "the dashboard is read-only");
    }
    if cross_site(req.headers()) {
        return refuse(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_MAX).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "form too large");
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let token = fields.iter().find(|(k, _)| k == FIELD).map(|(_, v)| v.as_str()).unwrap_or("");
    if !same(token.as_bytes(), app.csrf.as_bytes()) {
        return refuse(StatusCode::FORBIDDEN, "missing or stale form token: reload the page and try again");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, crate::render::error_page(status, message)).into_response()
}

/// True when the browser says the request comes from another site: by `Sec-Fetch-Site` when
/// it sends one (every current browser does), else by an `Origin` other than the `Host`.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = text("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => authority(origin) != Some(host),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `host[:port]` of an origin (`scheme://host[:port]`); `None` for `null` or garbage.
fn authority(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_same_site_requests_pass() {
        assert!(!cross_site(&headers(&[("host", "a:1")])));
        assert!(!cross_site(&headers(&[("host", "a:1"), ("origin", "http://a:1")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin"), ("host", "a:1")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site"), ("host", "a:1")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site"), ("host", "a:1")])));
        assert!(cross_site(&headers(&[("host", "a:1"), ("origin", "http://evil:1")])));
        assert!(cross_site(&headers(&[("host", "a:1"), ("origin", "null")])));
        let same_origin_null = [("sec-fetch-site", "same-origin"), ("host", "a:1"), ("origin", "null")];
        assert!(!cross_site(&headers(&same_origin_null)), "Sec-Fetch-Site decides when sent");
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
