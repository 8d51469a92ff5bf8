//! `/workers`: the maintenance leader and which worker runs how many jobs of which queue
//! (from the running jobs themselves, a capped read). Live.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, page};
use axum::response::Response;
use chrono::Utc;
use maud::html;

pub(crate) async fn show(ctx: Ctx) -> Result<Response, WebError> {
    let fleet = ctx.app.client.fleet().await?;
    let live = html! {
        p { "Maintenance leader: " strong #leader { (fleet.leader.as_deref().unwrap_or("none elected")) } }
        @if fleet.capped {
            p.muted { "More than " (haul::FLEET_RUNNING_MAX) " jobs run: counts cover the first read." }
        }
        @if fleet.workers.is_empty() {
            p.muted { "No job is running." }
        } @else {
            div.scroll { table {
                thead { tr { th { "worker" } th { "queue" } th.num { "running" } th { "longest running for" } } }
                tbody {
                    @for w in &fleet.workers {
                        tr {
                            td { (w.worker.as_deref().unwrap_or("-")) } td { (w.queue) } td.num { (w.running) }
                            td { (fmt::duration(w.oldest_started.and_then(|t| (Utc::now() - t).to_std().ok()))) }
                        }
                    }
                }
            } }
        }
    };
    Ok(page(&ctx, "/workers", "Workers", html! {}, Some(live)))
}
