#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod app;
mod assets;
mod bind;
mod config;
mod error;
mod render;
mod screens;
mod security;

pub use bind::{BindError, check_bind};
pub use config::{Auth, Dashboard, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
pub use error::WebError;

// docs/dashboard.md's examples compile as this crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/dashboard.md")]
struct DashboardGuide;

/// The dashboard's routes for `dashboard`, to serve alone or nest under a path of your app
/// (`Router::nest("/admin/jobs", haul_web::router(dashboard))`): every link and form
/// follows the path it is nested under.
pub fn router(dashboard: Dashboard) -> axum::Router {
    app::router(dashboard)
}
