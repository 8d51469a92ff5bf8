//! `/`: the whole queue at a glance: jobs by state, dead letters and the oldest available
//! job's age; completions and failures per minute over the last hour as charts; each queue's
//! depth by state. Live.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::chart::{self, Bar};
use crate::render::{fmt, page};
use axum::response::Response;
use haul::{JobState, Stats, StatsMinute, StatsQuery};
use maud::{Markup, html};
use std::time::Duration;

/// The window of the charts and outcome counts.
const WINDOW: Duration = Duration::from_secs(3600);

pub(crate) async fn show(ctx: Ctx) -> Result<Response, WebError> {
    let query = StatsQuery::default().with_window(WINDOW);
    let client = &ctx.app.client;
    let stats = client.stats(&query).await?;
    let minutes = client.stats_timeline(&query).await?;
    let live = html! { (cards(&stats)) (charts(&minutes)) (queues(&ctx, &stats)) };
    Ok(page(&ctx, "/", "Overview", html! {}, Some(live)))
}

fn cards(stats: &Stats) -> Markup {
    let (t, est) = (&stats.total, &stats.estimated);
    let card = |label: &str, value: Markup| html! { div.card { div.n { (value) } div.l { (label) } } };
    html! {
        div.cards {
            (card("available", fmt::count(t.depth.available, JobState::Available, est)))
            (card("running", fmt::count(t.depth.running, JobState::Running, est)))
            (card("scheduled", fmt::count(t.depth.scheduled, JobState::Scheduled, est)))
            (card("retryable", fmt::count(t.depth.retryable, JobState::Retryable, est)))
            (card("dead letters", fmt::count(t.dead_letters, JobState::Discarded, est)))
            (card("oldest available", html! { (fmt::duration(t.oldest_available)) }))
            (card("completed / s (1 h)", html! { (format!("{:.2}", t.throughput)) }))
            (card("error rate (1 h)", html! { (t.error_rate.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))) }))
        }
        @if !est.is_empty() {
            p.muted { "≈ marks counts estimated from a sample of a large table." }
        }
    }
}

fn charts(minutes: &[StatsMinute]) -> Markup {
    let bars = |value: fn(&StatsMinute) -> i64| -> Vec<Bar> {
        minutes.iter().map(|m| Bar { label: m.at.format("%H:%M").to_string(), value: value(m) }).collect()
    };
    html! {
        h2 { "Last hour, per minute" }
        div.charts {
            (chart::bars("completed", "#1f7a4d", &bars(|m| m.outcomes.completed)))
            (chart::bars("failed (retried or discarded)", "#b3261e", &bars(|m| m.outcomes.retried + m.outcomes.discarded)))
        }
    }
}

fn queues(ctx: &Ctx, stats: &Stats) -> Markup {
    let est = &stats.estimated;
    let shown = [
        JobState::Available,
        JobState::Running,
        JobState::Scheduled,
        JobState::Retryable,
        JobState::Discarded,
    ];
    html! {
        h2 { "Queues" }
        @if stats.queues.is_empty() {
            p.muted { "No jobs yet." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "queue" }
                    @for s in shown { th.num { (s.as_str()) } }
                    th.num { "oldest available" } th.num { "completed (1 h)" } th.num { "failed (1 h)" }
                } }
                tbody {
                    @for row in &stats.queues {
                        @let name = row.queue.as_deref().unwrap_or("");
                        tr {
                            td { a href=(ctx.url(&format!("/jobs?queue={}", crate::screens::jobs::enc(name)))) { (name) } }
                            @for s in shown { td.num { (fmt::count(row.depth.get(s), s, est)) } }
                            td.num { (fmt::duration(row.oldest_available)) }
                            td.num { (row.outcomes.completed) }
                            td.num { (row.outcomes.retried + row.outcomes.discarded) }
                        }
                    }
                }
            } }
        }
    }
}
