//! `/queues`: every queue, paused or not, with its jobs per state (estimated on a large
//! table); pause and resume by POST. Live.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, form, page};
use axum::extract::Path;
use axum::response::{Redirect, Response};
use haul::JobState;
use maud::html;

pub(crate) async fn show(ctx: Ctx) -> Result<Response, WebError> {
    let summary = ctx.app.client.queue_summary().await?;
    let est = &summary.estimated;
    let shown = [
        JobState::Available,
        JobState::Running,
        JobState::Scheduled,
        JobState::Retryable,
        JobState::Discarded,
    ];
    let live = html! {
        @if summary.queues.is_empty() {
            p.muted { "No queues yet: a queue appears once a worker runs it or a job is inserted into it." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "queue" } th { "state" }
                    @for s in shown { th.num { (s.as_str()) } }
                    th { "" }
                } }
                tbody {
                    @for q in &summary.queues {
                        @let path = format!("/queues/{}", crate::screens::jobs::enc(&q.name));
                        tr {
                            td { a href=(ctx.url(&format!("/jobs?queue={}", crate::screens::jobs::enc(&q.name)))) { (q.name) } }
                            td {
                                @if q.paused { span.paused { "paused" } " " (fmt::time(q.paused_at)) } @else { "running" }
                            }
                            @for s in shown { td.num { (fmt::count(q.counts.get(s), s, est)) } }
                            td {
                                @if q.paused {
                                    (form::button(&ctx, &format!("{path}/resume"), &format!("Resume {}", q.name), "primary"))
                                } @else {
                                    (form::button(&ctx, &format!("{path}/pause"), &format!("Pause {}", q.name), ""))
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(page(&ctx, "/queues", "Queues", html! {}, Some(live)))
}

/// POST `/queues/{name}/pause|resume`, then back to the list.
pub(crate) async fn act(
    ctx: Ctx,
    Path((name, action)): Path<(String, String)>,
) -> Result<Redirect, WebError> {
    let client = &ctx.app.client;
    match action.as_str() {
        "pause" => client.pause_queue(&name).await?,
        "resume" => client.resume_queue(&name).await?,
        _ => return Err(WebError::NotFound),
    }
    Ok(Redirect::to(&ctx.url("/queues")))
}
