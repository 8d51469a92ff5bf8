//! `/sagas/{id}`: one saga: its state, its steps in order with their jobs, the step that
//! failed for good if one did, and the compensations in the order they run. Read-only.

use crate::app::Ctx;
use crate::error::WebError;
use crate::render::{fmt, page};
use axum::extract::Path;
use axum::response::Response;
use haul::{SagaState, WaitingOn};
use maud::{Markup, html};

pub(crate) async fn show(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, WebError> {
    let s = ctx.app.client.saga(id).await?.ok_or(haul::Error::SagaNotFound { id })?;
    let body = html! {
        dl.fields #saga {
            dt { "state" } dd { (state(s.state)) }
            dt { "created" } dd { (fmt::time(Some(s.created_at))) }
            dt { "finished" } dd { (fmt::time(s.finished_at)) }
        }
        h2 { "Steps" }
        (jobs(&ctx, "steps", &s.steps, 0, s.failed_step))
        h2 { "Compensations" }
        @if s.compensations.is_empty() {
            p.muted { "None: they run only once a step fails for good." }
        } @else {
            (jobs(&ctx, "compensations", &s.compensations, 1, None))
        }
    };
    Ok(page(&ctx, "/jobs", &format!("Saga {id}"), body, None))
}

/// The saga's state as the library names it.
fn state(s: SagaState) -> &'static str {
    match s {
        SagaState::Running => "running",
        SagaState::Completed => "completed",
        SagaState::Compensating => "compensating",
        SagaState::Compensated => "compensated",
        _ => "unknown",
    }
}

/// Jobs in order, numbered from `first` (steps from 0 as their metadata names them,
/// compensations from 1 as `haul sagas show` does), the step that failed for good marked.
fn jobs(ctx: &Ctx, id: &str, list: &[WaitingOn], first: usize, failed: Option<i32>) -> Markup {
    html! {
        div.scroll { table id=(id) {
            thead { tr { th.num { "#" } th { "job" } th { "" } } }
            tbody {
                @for (i, w) in list.iter().enumerate() {
                    tr {
                        td.num { (first + i) } td { (fmt::waiting_on(ctx, w)) }
                        td { @if failed.and_then(|f| usize::try_from(f).ok()) == Some(i) { "failed for good" } }
                    }
                }
            }
        } }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn states_read_as_the_library_serializes_them() {
        use haul::SagaState as S;
        for s in [S::Running, S::Completed, S::Compensating, S::Compensated] {
            assert_eq!(serde_json::to_value(s).unwrap(), super::state(s));
        }
    }
}
