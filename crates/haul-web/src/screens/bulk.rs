//! POST `/jobs/bulk`: an action on every job a filter picks, in two steps. The first post
//! counts what the action would change and asks to confirm that number; the confirming post
//! (carrying `expected`) runs it in the library's bounded batches and reports what it did.

use super::params::FilterParams;
use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{form, page};
use axum::Form;
use axum::response::Response;
use haul::{BulkAction, BulkReport, RetryAttempts};
use maud::{Markup, html};
use serde::Deserialize;

/// The bulk form: the filter, the action, and once confirmed the count that was shown.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BulkForm {
    #[serde(flatten)]
    pub filter: FilterParams,
    pub action: String,
    pub expected: String,
}

/// An action's verb, and the screen to go back to.
struct Named {
    action: BulkAction,
    verb: &'static str,
    back: &'static str,
}

fn named(action: &str) -> Result<Named, WebError> {
    let keep = RetryAttempts::Keep;
    let (action, verb, back) = match action {
        "retry" => (BulkAction::Retry(keep), "retry", "/jobs"),
        "cancel" => (BulkAction::Cancel, "cancel", "/jobs"),
        "delete" => (BulkAction::Delete, "delete", "/jobs"),
        "redrive" => (BulkAction::Redrive(keep), "redrive", "/dead"),
        "purge" => (BulkAction::Purge, "purge", "/dead"),
        other => return Err(WebError::BadInput(format!("no bulk action is named {other:?}"))),
    };
    Ok(Named { action, verb, back })
}

pub(crate) async fn act(ctx: Ctx, Form(f): Form<BulkForm>) -> Result<Response, WebError> {
    let named = named(&f.action)?;
    if named.verb == "purge" && f.filter.older_than()?.is_none() {
        return Err(WebError::BadInput(
            "a purge needs an age: purge finished jobs older than, say, 7days".into(),
        ));
    }
    let filter = f.filter.filter()?;
    let control = ctx.app.client.control();
    let back = format!("{}?{}", named.back, f.filter.query());
    if f.expected.trim().is_empty() {
        let would = control.count(named.action, &filter).await?;
        return Ok(page(&ctx, named.back, "Confirm", confirm(&ctx, &f, &named, would, &back), None));
    }
    let done = control.run(named.action, &filter).await?;
    Ok(page(&ctx, named.back, "Done", report(&ctx, &f, &named, done, &back), None))
}

fn confirm(ctx: &Ctx, f: &BulkForm, n: &Named, would: BulkReport, back: &str) -> Markup {
    html! {
        p.notice {
            (n.verb) " " strong #count { (would.changed) } " jobs (" (f.filter.describe()) ")"
            @if would.requested > 0 { ", and ask " (would.requested) " running jobs to stop" }
            "?"
        }
        @if would.changed + would.requested == 0 {
            p { "Nothing to do. " a href=(ctx.url(back)) { "Back" } }
        } @else {
            form.actions method="post" action=(ctx.url("/jobs/bulk")) {
                (form::token(ctx))
                (f.filter.hidden())
                input type="hidden" name="action" value=(f.action);
                input type="hidden" name="expected" value=(would.changed);
                button.primary type="submit" { "Yes, " (n.verb) " " (would.changed) " jobs" }
                a href=(ctx.url(back)) { "No, go back" }
            }
            p.muted { "Jobs that change state meanwhile are counted again as the action runs." }
        }
    }
}

fn report(ctx: &Ctx, f: &BulkForm, n: &Named, done: BulkReport, back: &str) -> Markup {
    html! {
        p.notice #done {
            (n.verb) ": " strong { (done.changed) } " jobs changed"
            @if done.requested > 0 { ", " (done.requested) " running jobs asked to stop" }
            " (" (f.filter.describe()) "; " (done.batches) " batches; " (f.expected) " were counted)."
        }
        p { a href=(ctx.url(back)) { "Back" } }
    }
}
