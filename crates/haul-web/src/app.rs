//! The router's shared state ([`App`]), the per-request context screens render with
//! ([`Ctx`]), and the assembly of routes and guards.

use crate::config::{Auth, Dashboard};
use crate::{assets, screens, security};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Router, middleware};
use haul::Client;
use std::convert::Infallible;
use std::sync::Arc;

/// What every handler shares.
pub(crate) struct App {
    pub client: Client,
    pub auth: Option<Auth>,
    pub read_only: bool,
    pub page_size: u32,
    /// The `Host` names answered; `None`: any.
    pub hosts: Option<Vec<String>>,
    /// The token every form carries: a page of this dashboard can read it, a cross-site one
    /// cannot. Random per router.
    pub csrf: String,
}

/// The state handlers extract.
pub(crate) type Shared = Arc<App>;

/// The header the live-refresh script sends: such a request gets only the live part of a page.
pub(crate) const LIVE_HEADER: &str = "x-haul-live";

pub(crate) fn router(d: Dashboard) -> Router {
    let app = Arc::new(App {
        client: d.client,
        auth: d.auth,
        read_only: d.read_only,
        page_size: d.page_size,
        hosts: d.hosts,
        csrf: security::csrf::new_token(),
    });
    screens::routes()
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn_with_state(app.clone(), security::csrf::guard))
        .layer(middleware::from_fn_with_state(app.clone(), security::auth::guard))
        .layer(middleware::from_fn_with_state(app.clone(), security::host::guard))
        .layer(middleware::from_fn(security::headers::set))
        .with_state(app)
}

/// One request's view of the app: its state, the path the router is nested under (links and
/// forms start with it), and whether only the live part of the page is asked for.
pub(crate) struct Ctx {
    pub app: Shared,
    pub base: String,
    pub live: bool,
}

impl Ctx {
    /// `path` (starting with `/`) under the router's base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Infallible> {
        let inner = parts.uri.path();
        let full = parts.extensions.get::<OriginalUri>().map_or(inner, |o| o.0.path());
        let base = full.strip_suffix(inner).unwrap_or(full.trim_end_matches('/'));
        let base = base.trim_end_matches('/').to_owned();
        let live = parts.headers.contains_key(LIVE_HEADER);
        Ok(Ctx { app: app.clone(), base, live })
    }
}
