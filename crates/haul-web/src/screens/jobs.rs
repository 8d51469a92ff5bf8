//! `/jobs`: jobs picked by a filter (state, queue, kind, tag, age), newest first, a page at a
//! time by keyset (`before` the last id shown), at most [`PAGE_SIZE_MAX`] per page, each
//! reading at most [`SCAN_ROWS`] jobs. Args are
//! hidden unless asked for, and cut short when shown. Bulk retry, cancel and delete of the
//! whole filter go through a count confirmation ([`super::bulk`]).

use super::params::FilterParams;
use crate::app::Ctx;
use crate::config::PAGE_SIZE_MAX;
use crate::error::WebError;
use crate::render::{fmt, form, page};
use axum::extract::Query;
use axum::response::Response;
use haul::{JobPage, JobRow, JobState, Page};
use maud::{Markup, html};
use serde::Deserialize;

/// Jobs a list page reads at most to find its own: a page costs the same on a table of any
/// size, and a filter matching few jobs pages on below the jobs read.
pub(crate) const SCAN_ROWS: u32 = 10_000;

/// The query of the jobs page: the filter, the page and whether args are shown.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListParams {
    #[serde(flatten)]
    pub filter: FilterParams,
    /// Start below this id (the last one of the previous page).
    pub before: String,
    /// Jobs per page, at most [`PAGE_SIZE_MAX`].
    pub limit: String,
    /// `1`: show args (cut short).
    pub args: String,
}

impl ListParams {
    /// The page asked for, checked.
    pub fn page(&self, default: u32) -> Result<Page, WebError> {
        let limit = match self.limit.trim() {
            "" => default,
            l => l.parse::<u32>().ok().filter(|n| (1..=PAGE_SIZE_MAX).contains(n)).ok_or_else(|| {
                WebError::BadInput(format!("a page shows 1 to {PAGE_SIZE_MAX} jobs, not {l:?}"))
            })?,
        };
        let page = match self.before.trim() {
            "" => Page::first(limit),
            b => b
                .parse::<i64>()
                .map(|id| Page::before(id, limit))
                .map_err(|_| WebError::BadInput(format!("`before` is a job id, not {b:?}")))?,
        };
        Ok(page.with_scan_limit(SCAN_ROWS))
    }
}

/// `s` percent-encoded for a query string.
pub(crate) fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap_or_default().trim_start_matches('=').to_owned()
}

pub(crate) async fn show(ctx: Ctx, Query(p): Query<ListParams>) -> Result<Response, WebError> {
    let filter = p.filter.filter()?;
    let listed = ctx.app.client.control().list(&filter, p.page(ctx.app.page_size)?).await?;
    let with_args = p.args == "1";
    let body = html! {
        (filters(&p))
        (table(&ctx, &listed, with_args))
        (pager(&ctx, &p, &listed))
        (bulk_form(&ctx, &p.filter))
    };
    Ok(page(&ctx, "/jobs", "Jobs", body, None))
}

fn filters(p: &ListParams) -> Markup {
    let f = &p.filter;
    html! {
        form.filters method="get" {
            label { "state"
                select name="state" {
                    option value="" { "any" }
                    @for s in JobState::ALL {
                        option value=(s.as_str()) selected[f.state == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            label { "queue" input name="queue" value=(f.queue) size="12"; }
            label { "kind" input name="kind" value=(f.kind) size="14"; }
            label { "tag" input name="tag" value=(f.tag) size="12"; }
            label { "older than" input name="older" value=(f.older) placeholder="e.g. 1h" size="8"; }
            label { "newer than" input name="newer" value=(f.newer) placeholder="e.g. 7days" size="8"; }
            label { "per page" input name="limit" value=(p.limit) placeholder="50" size="4"; }
            label { "args" input type="checkbox" name="args" value="1" checked[p.args == "1"]; }
            button type="submit" { "Filter" }
        }
    }
}

/// The jobs of a page as a table; `with_args`: a column of args cut short.
pub(crate) fn table(ctx: &Ctx, listed: &JobPage, with_args: bool) -> Markup {
    if listed.jobs.is_empty() {
        return empty(listed, "No jobs match");
    }
    html! {
        div.scroll { table {
            thead { tr {
                th.num { "id" } th { "kind" } th { "queue" } th { "state" } th.num { "attempt" }
                th { "created" } th { "run at" }
                @if with_args { th { "args" } }
            } }
            tbody { @for j in &listed.jobs { (row(ctx, j, with_args)) } }
        } }
    }
}

/// An empty page: none at all, or none among the jobs read so far.
pub(crate) fn empty(listed: &JobPage, none: &str) -> Markup {
    if listed.next.is_some() {
        html! { p.muted { (none) " among the " (SCAN_ROWS) " newest jobs read; older ones may: follow “older »”." } }
    } else {
        html! { p.muted { (none) "." } }
    }
}

fn row(ctx: &Ctx, j: &JobRow, with_args: bool) -> Markup {
    html! {
        tr {
            td.num { a href=(ctx.url(&format!("/jobs/{}", j.id))) { (j.id) } }
            td { (j.kind) } td { (j.queue) } td { (fmt::state(j.state)) }
            td.num { (j.attempt) "/" (j.max_attempts) }
            td { (fmt::time(Some(j.created_at))) } td { (fmt::time(Some(j.run_at))) }
            @if with_args { td.wrap { code { (fmt::truncate(&j.args.to_string(), fmt::ARGS_PREVIEW_MAX)) } } }
        }
    }
}

fn pager(ctx: &Ctx, p: &ListParams, listed: &JobPage) -> Markup {
    let mut base = p.filter.query();
    for (k, v) in [("limit", &p.limit), ("args", &p.args)] {
        if !v.is_empty() {
            base = format!("{base}&{k}={}", enc(v));
        }
    }
    let first = ctx.url(&format!("/jobs?{base}"));
    html! {
        div.actions {
            @if !p.before.is_empty() { a href=(first) { "« newest" } }
            @if let Some(next) = listed.next.and_then(|n| n.before_id()) {
                a href=(ctx.url(&format!("/jobs?{base}&before={next}"))) { "older »" }
            }
        }
    }
}

fn bulk_form(ctx: &Ctx, f: &FilterParams) -> Markup {
    if ctx.app.read_only {
        return html! {};
    }
    html! {
        h2 { "Act on every job this filter picks" }
        form.actions method="post" action=(ctx.url("/jobs/bulk")) {
            (form::token(ctx))
            (f.hidden())
            span.muted { (f.describe()) ":" }
            button type="submit" name="action" value="retry" { "Retry…" }
            button type="submit" name="action" value="cancel" { "Cancel…" }
            button.danger type="submit" name="action" value="delete" { "Delete…" }
            span.muted { "each asks for confirmation with the count first" }
        }
    }
}
