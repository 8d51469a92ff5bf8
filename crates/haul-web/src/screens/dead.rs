//! `/dead`: the dead letters (discarded jobs), newest first, each with its last error cut
//! short; redrive (run again) and purge (delete those discarded long enough ago) through the
//! count confirmation of [`super::bulk`].

use super::jobs::ListParams;
use super::params::FilterParams;
use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, form, page};
use axum::extract::Query;
use axum::response::Response;
use haul::{JobPage, JobState};
use maud::{Markup, html};

pub(crate) async fn show(ctx: Ctx, Query(mut p): Query<ListParams>) -> Result<Response, WebError> {
    p.filter.state = JobState::Discarded.as_str().into();
    let filter = p.filter.filter()?;
    let listed = ctx.app.client.control().list(&filter, p.page(ctx.app.page_size)?).await?;
    let body = html! {
        form.filters method="get" {
            label { "queue" input name="queue" value=(p.filter.queue) size="12"; }
            label { "kind" input name="kind" value=(p.filter.kind) size="14"; }
            button type="submit" { "Filter" }
        }
        (actions(&ctx, &p))
        (table(&ctx, &listed))
        @if let Some(next) = listed.next.and_then(|n| n.before_id()) {
            div.actions { a href=(ctx.url(&format!("/dead?{}&before={next}", p.filter.query()))) { "older »" } }
        }
    };
    Ok(page(&ctx, "/dead", "Dead letters", body, None))
}

fn actions(ctx: &Ctx, p: &ListParams) -> Markup {
    if ctx.app.read_only {
        return html! {};
    }
    let mut only = p.filter.clone();
    only.state.clear(); // redrive picks the dead letters itself
    let purge =
        FilterParams { state: JobState::Discarded.as_str().into(), older: String::new(), ..only.clone() };
    html! {
        div.actions {
            form.inline method="post" action=(ctx.url("/jobs/bulk")) {
                (form::token(ctx)) (only.hidden())
                button.primary type="submit" name="action" value="redrive" { "Redrive…" }
            }
            form.inline method="post" action=(ctx.url("/jobs/bulk")) {
                (form::token(ctx))
                (purge.hidden())
                label { "discarded more than " input name="older" value="7days" size="7"; " ago " }
                button.danger type="submit" name="action" value="purge" { "Purge…" }
            }
        }
    }
}

fn table(ctx: &Ctx, listed: &JobPage) -> Markup {
    if listed.jobs.is_empty() {
        return super::jobs::empty(listed, "No dead letters");
    }
    html! {
        div.scroll { table {
            thead { tr { th.num { "id" } th { "kind" } th { "queue" } th.num { "attempts" } th { "discarded" } th { "last error" } } }
            tbody {
                @for j in &listed.jobs {
                    tr {
                        td.num { a href=(ctx.url(&format!("/jobs/{}", j.id))) { (j.id) } }
                        td { (j.kind) } td { (j.queue) } td.num { (j.attempt) }
                        td { (fmt::time(j.finalized_at)) }
                        td.wrap { (j.errors.last().map_or(String::new(), |e| fmt::truncate(&e.error, fmt::ERROR_PREVIEW_MAX))) }
                    }
                }
            }
        } }
    }
}
