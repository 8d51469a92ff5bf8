//! The screens, one module each, and the table that puts them in the navigation.
//!
//! A screen for a feature the library grows is a module here with its routes added in
//! [`routes`] and, when it lists something, its entry in [`NAV`]; the job page links a job's
//! batch, saga and the jobs it waits on through [`job::related`].

mod batch;
mod bulk;
mod dead;
pub(crate) mod job;
mod jobs;
mod limits;
mod overview;
mod params;
mod periodic;
mod queues;
mod saga;
mod workers;

use crate::app::Shared;
use axum::Router;
use axum::routing::{get, post};

/// One entry of the navigation: the screen's path (under the router's base) and title.
pub(crate) struct Screen {
    pub path: &'static str,
    pub title: &'static str,
}

/// The navigation, in the order an operator looks: the whole, then queues, jobs, failures,
/// who runs them, what runs on a schedule, and what limits the queues.
pub(crate) const NAV: &[Screen] = &[
    Screen { path: "/", title: "Overview" },
    Screen { path: "/queues", title: "Queues" },
    Screen { path: "/jobs", title: "Jobs" },
    Screen { path: "/dead", title: "Dead letters" },
    Screen { path: "/workers", title: "Workers" },
    Screen { path: "/periodic", title: "Periodic" },
    Screen { path: "/limits", title: "Limits" },
];

/// Every screen's routes. GET routes only read; every change is a POST.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(overview::show))
        .route("/queues", get(queues::show))
        .route("/queues/{name}/{action}", post(queues::act))
        .route("/jobs", get(jobs::show))
        .route("/jobs/bulk", post(bulk::act))
        .route("/jobs/{id}", get(job::show))
        .route("/jobs/{id}/{action}", post(job::act))
        .route("/dead", get(dead::show))
        .route("/workers", get(workers::show))
        .route("/periodic", get(periodic::show))
        .route("/limits", get(limits::show))
        .route("/batches/{id}", get(batch::show))
        .route("/sagas/{id}", get(saga::show))
}
