//! Credentials on every request when [`Auth`] is configured: a bearer token, or HTTP basic
//! auth (a browser's own prompt), compared in constant time.

use super::same;
use crate::app::Shared;
use crate::config::Auth;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// Lets the request through when no auth is configured or its credentials match.
pub(crate) async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    match &app.auth {
        Some(auth) if !allowed(auth, req.headers()) => {
            let challenge = [(header::WWW_AUTHENTICATE, r#"Basic realm="haul", charset="UTF-8""#)];
            (StatusCode::UNAUTHORIZED, challenge, "credentials required\n").into_response()
        }
        _ => next.run(req).await,
    }
}

fn allowed(auth: &Auth, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return matches!(auth, Auth::Token(t) if same(token.trim().as_bytes(), t.as_bytes()));
    }
    let Some((user, password)) = value.strip_prefix("Basic ").and_then(basic) else { return false };
    match auth {
        Auth::Token(t) => same(password.as_bytes(), t.as_bytes()),
        Auth::Basic { user: u, password: p } => {
            // both compared, always: the time says nothing about which one was wrong
            same(user.as_bytes(), u.as_bytes()) & same(password.as_bytes(), p.as_bytes())
        }
    }
}

/// `user:password` out of a basic credential.
fn basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic_of(pair: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    #[test]
    fn a_token_is_taken_as_bearer_or_as_a_basic_password() {
        let auth = Auth::Token("t0k".into());
        assert!(allowed(&auth, &headers("Bearer t0k")));
        assert!(allowed(&auth, &headers(&basic_of("anyone:t0k"))));
        assert!(!allowed(&auth, &headers("Bearer t0")));
        assert!(!allowed(&auth, &headers(&basic_of("anyone:nope"))));
        assert!(!allowed(&auth, &HeaderMap::new()));
    }

    #[test]
    fn basic_auth_needs_both_user_and_password() {
        let auth = Auth::Basic { user: "ops".into(), password: "pw".into() };
        assert!(allowed(&auth, &headers(&basic_of("ops:pw"))));
        assert!(!allowed(&auth, &headers(&basic_of("ops:px"))));
        assert!(!allowed(&auth, &headers(&basic_of("opz:pw"))));
        assert!(!allowed(&auth, &headers("Bearer pw")));
    }
}
