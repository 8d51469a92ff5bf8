//! `/batches/{id}`: one fan-out batch: running or finished, its children by state, its
//! parent and, once finished, the final counts and its callback job. Read-only.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, page};
use axum::extract::Path;
use axum::response::Response;
use haul::{BatchInfo, JobState};
use maud::{Markup, html};

pub(crate) async fn show(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, WebError> {
    let b = ctx.app.client.batch(id).await?.ok_or(haul::Error::BatchNotFound { id })?;
    let body = html! {
        (fields(&ctx, &b))
        (children(&b))
    };
    Ok(page(&ctx, "/jobs", &format!("Batch {id}"), body, None))
}

fn job_link(ctx: &Ctx, id: Option<i64>) -> Markup {
    match id {
        Some(id) => html! { a href=(ctx.url(&format!("/jobs/{id}"))) { "job " (id) } },
        None => html! { span.muted { "none" } },
    }
}

fn fields(ctx: &Ctx, b: &BatchInfo) -> Markup {
    html! {
        dl.fields #batch {
            dt { "state" } dd { @if b.result.is_some() { "finished" } @else { "running" } }
            dt { "children" } dd { (b.total) }
            dt { "waiting" } dd { (b.waiting()) }
            dt { "parent" } dd { (job_link(ctx, b.parent_id)) }
            dt { "created" } dd { (fmt::time(Some(b.created_at))) }
            dt { "finished" } dd { (fmt::time(b.finished_at)) }
            @if let Some(r) = &b.result {
                dt { "result" } dd { (r.completed) " completed, " (r.discarded) " discarded, " (r.cancelled) " cancelled" }
                dt { "callback" } dd #callback { (job_link(ctx, b.callback_id)) }
            }
        }
    }
}

/// The children still stored, by state; completed children are deleted unless retained, so
/// the rest of the total is shown as completed and gone.
fn children(b: &BatchInfo) -> Markup {
    let gone = b.total - b.states.total();
    html! {
        h2 { "Children by state" }
        div.scroll { table #children {
            thead { tr { th { "state" } th.num { "jobs" } } }
            tbody {
                @for s in JobState::ALL.iter().filter(|s| b.states.get(**s) > 0) {
                    tr { td { (fmt::state(*s)) } td.num { (b.states.get(*s)) } }
                }
                @if gone > 0 {
                    tr { td { "completed, deleted" } td.num { (gone) } }
                }
            }
        } }
    }
}
