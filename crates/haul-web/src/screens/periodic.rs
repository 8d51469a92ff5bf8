//! `/periodic`: every periodic schedule a leader has seen, with the last tick it enqueued or
//! skipped. Schedules live in the workers' code, so the next tick is the leader's to know.
//! Live.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, page};
use axum::response::Response;
use maud::html;

pub(crate) async fn show(ctx: Ctx) -> Result<Response, WebError> {
    let records = ctx.app.client.periodic().await?;
    let live = html! {
        @if records.is_empty() {
            p.muted { "No periodic schedule yet: one appears once a leader has seen it." }
        } @else {
            div.scroll { table {
                thead { tr { th { "name" } th { "last tick" } th { "recorded" } } }
                tbody {
                    @for r in &records {
                        tr { td { (r.name) } td { (fmt::time(Some(r.last_tick))) } td { (fmt::time(Some(r.updated_at))) } }
                    }
                }
            } }
        }
    };
    Ok(page(&ctx, "/periodic", "Periodic jobs", html! {}, Some(live)))
}
