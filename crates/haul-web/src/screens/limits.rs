//! `/limits`: every queue's global limit, shared by all workers: its concurrency, its rate
//! and period, and what partitions it. Read-only (limits are set through the library or
//! `haul limits set`). Live.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, page};
use axum::response::Response;
use haul::{Partition, QueueLimit};
use maud::html;

pub(crate) async fn show(ctx: Ctx) -> Result<Response, WebError> {
    let limits = ctx.app.client.limits().await?;
    let live = html! {
        @if limits.is_empty() {
            p.muted { "No global limits: a queue runs as many jobs as its workers take. Set one with `haul limits set`." }
        } @else {
            div.scroll { table #limits {
                thead { tr {
                    th { "queue" } th.num { "concurrency" } th.num { "rate" } th { "period" }
                    th { "partitioned by" } th { "set" }
                } }
                tbody { @for l in &limits { (row(&ctx, l)) } }
            } }
        }
    };
    Ok(page(&ctx, "/limits", "Global limits", html! {}, Some(live)))
}

fn row(ctx: &Ctx, l: &QueueLimit) -> maud::Markup {
    let queue = format!("/jobs?queue={}", crate::screens::jobs::enc(&l.queue));
    let rate = l.limit.rate;
    html! {
        tr {
            td { a href=(ctx.url(&queue)) { (l.queue) } }
            td.num { (l.limit.concurrency.map_or_else(|| "-".to_owned(), |n| n.to_string())) }
            td.num { (rate.map_or_else(|| "-".to_owned(), |r| r.starts.to_string())) }
            td { (rate.map_or_else(|| "-".to_owned(), |r| humantime::format_duration(r.per).to_string())) }
            td { (partition(&l.limit.partition)) }
            td { (fmt::time(Some(l.updated_at))) }
        }
    }
}

/// What each gets the whole limit: the queue, each kind, each value of an args key, or both.
fn partition(p: &Partition) -> String {
    match (p.by_kind, &p.by_arg) {
        (false, None) => "whole queue".to_owned(),
        (true, None) => "kind".to_owned(),
        (false, Some(k)) => format!("args.{k}"),
        (true, Some(k)) => format!("kind + args.{k}"),
    }
}
