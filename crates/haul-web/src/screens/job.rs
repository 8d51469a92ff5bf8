//! `/jobs/{id}`: one job: its fields, timestamps and worker, its batch, saga step and the jobs
//! it waits on, its args and metadata only when asked for (`?args=1`), every attempt's error;
//! retry, cancel and delete by POST.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, form, page};
use axum::extract::{Path, Query};
use axum::response::{Redirect, Response};
use haul::{JobRow, WaitingOn};
use maud::{Markup, html};
use serde::Deserialize;

/// `?args=1` shows the args and metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct JobParams {
    pub args: String,
}

pub(crate) async fn show(
    ctx: Ctx,
    Path(id): Path<i64>,
    Query(p): Query<JobParams>,
) -> Result<Response, WebError> {
    let job = ctx.app.client.get(id).await?.ok_or(WebError::NotFound)?;
    let waits_on = ctx.app.client.waits_on(id).await?;
    let body = html! {
        (actions(&ctx, &job))
        (fields(&job))
        (related(&ctx, &job, &waits_on))
        (payload(&ctx, &job, p.args == "1"))
        (errors(&job))
    };
    Ok(page(&ctx, "/jobs", &format!("Job {id}"), body, None))
}

fn actions(ctx: &Ctx, j: &JobRow) -> Markup {
    let path = |a: &str| format!("/jobs/{}/{a}", j.id);
    html! {
        div.actions {
            (form::button(ctx, &path("retry"), "Retry now", "primary"))
            (form::button(ctx, &path("cancel"), "Cancel", ""))
            (form::button(ctx, &path("delete"), "Delete", "danger"))
        }
    }
}

fn fields(j: &JobRow) -> Markup {
    html! {
        dl.fields {
            dt { "kind" } dd { (j.kind) }
            dt { "queue" } dd { (j.queue) }
            dt { "state" } dd { (fmt::state(j.state)) }
            dt { "attempt" } dd { (j.attempt) " of " (j.max_attempts) }
            dt { "priority" } dd { (j.priority) }
            dt { "tags" } dd { (j.tags.join(", ")) }
            dt { "created" } dd { (fmt::time(Some(j.created_at))) }
            dt { "run at" } dd { (fmt::time(Some(j.run_at))) }
            dt { "attempted" } dd { (fmt::time(j.attempted_at)) }
            dt { "finalized" } dd { (fmt::time(j.finalized_at)) }
            dt { "lease expires" } dd { (fmt::time(j.lease_expires_at)) }
            dt { "worker" } dd { (j.attempted_by.as_deref().unwrap_or("-")) }
        }
    }
}

/// The job's batch, saga step and the jobs it waits on, each linked; nothing for a plain job.
pub(crate) fn related(ctx: &Ctx, job: &JobRow, waits_on: &[WaitingOn]) -> Markup {
    let saga = saga_of(job);
    if job.batch_id.is_none() && saga.is_none() && waits_on.is_empty() {
        return html! {};
    }
    html! {
        h2 { "Workflow" }
        dl.fields #workflow {
            @if let Some(b) = job.batch_id {
                dt { "batch" } dd { a href=(ctx.url(&format!("/batches/{b}"))) { "batch " (b) } }
            }
            @if let Some((id, step)) = saga {
                dt { "saga" } dd { a href=(ctx.url(&format!("/sagas/{id}"))) { "saga " (id) } ", step " (step) }
            }
            @if !waits_on.is_empty() {
                dt { "waits on" }
                dd { @for (i, w) in waits_on.iter().enumerate() { @if i > 0 { ", " } (fmt::waiting_on(ctx, w)) } }
            }
        }
    }
}

/// The saga and step (from 0) a job is part of, from the `haul:saga` key of its metadata.
fn saga_of(j: &JobRow) -> Option<(i64, i64)> {
    let s = j.metadata.get("haul:saga")?;
    Some((s.get("id")?.as_i64()?, s.get("step")?.as_i64()?))
}

fn payload(ctx: &Ctx, j: &JobRow, show: bool) -> Markup {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    html! {
        h2 { "Args and metadata" }
        @if show {
            pre #args { (fmt::truncate(&pretty(&j.args), fmt::ARGS_FULL_MAX)) }
            h2 { "Metadata" }
            pre { (fmt::truncate(&pretty(&j.metadata), fmt::ARGS_FULL_MAX)) }
            p { a href=(ctx.url(&format!("/jobs/{}", j.id))) { "Hide" } }
        } @else {
            p { "Hidden: args can hold personal data. " a #show-args href=(ctx.url(&format!("/jobs/{}?args=1", j.id))) { "Show args" } }
        }
    }
}

fn errors(j: &JobRow) -> Markup {
    html! {
        h2 { "Attempts that failed (" (j.errors.len()) ")" }
        @if j.errors.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll { table {
                thead { tr { th.num { "attempt" } th { "at" } th { "class" } th { "worker" } th { "error" } } }
                tbody {
                    @for e in j.errors.iter().rev() {
                        tr {
                            td.num { (e.attempt) } td { (fmt::time(Some(e.at))) } td { (e.class.as_str()) }
                            td { (e.worker.as_deref().unwrap_or("-")) }
                            td.wrap { pre { (e.error) } }
                        }
                    }
                }
            } }
        }
    }
}

/// POST `/jobs/{id}/retry|cancel|delete`, then back to the job (or the list once deleted).
pub(crate) async fn act(ctx: Ctx, Path((id, action)): Path<(i64, String)>) -> Result<Redirect, WebError> {
    let client = &ctx.app.client;
    match action.as_str() {
        "retry" => client.retry(id).await?,
        "cancel" => drop(client.cancel(id).await?),
        "delete" => {
            client.delete(id).await?;
            return Ok(Redirect::to(&ctx.url("/jobs")));
        }
        _ => return Err(WebError::NotFound),
    }
    Ok(Redirect::to(&ctx.url(&format!("/jobs/{id}"))))
}
