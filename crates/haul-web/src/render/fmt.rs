//! How values read on a page: ages, durations, counts that may be estimates, args cut to a
//! length for lists, and a workflow's jobs as links.

use crate::app::Ctx;
use chrono::{DateTime, Utc};
use haul::{JobState, WaitingOn};
use maud::{Markup, html};
use std::time::Duration;

/// Characters of args a list shows before cutting them.
pub(crate) const ARGS_PREVIEW_MAX: usize = 120;
/// Characters of one error a list shows before cutting it.
pub(crate) const ERROR_PREVIEW_MAX: usize = 200;
/// Characters of args a job's page shows at most.
pub(crate) const ARGS_FULL_MAX: usize = 64 * 1024;

/// `d` as its largest two units (`3m 12s`), `-` for none.
pub(crate) fn duration(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// A timestamp as UTC to the second, with how long ago (or ahead) on hover.
pub(crate) fn time(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        None => html! { span.muted { "-" } },
        Some(t) => {
            let delta = Utc::now() - t;
            let hint = match delta.to_std() {
                Ok(ago) => format!("{} ago", duration(Some(ago))),
                Err(_) => format!("in {}", duration((-delta).to_std().ok())),
            };
            html! { time datetime=(t.to_rfc3339()) title=(hint) { (t.format("%Y-%m-%d %H:%M:%S")) } }
        }
    }
}

/// `n`, marked `≈` when `state`'s counts are estimates.
pub(crate) fn count(n: i64, state: JobState, estimated: &[JobState]) -> Markup {
    if estimated.contains(&state) {
        html! { span title="estimated from a sample of the table" { "≈" (n) } }
    } else {
        html! { (n) }
    }
}

/// `text` cut to `max` characters, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

/// A state as a badge.
pub(crate) fn state(s: JobState) -> Markup {
    html! { span class={ "state state-" (s.as_str()) } { (s.as_str()) } }
}

/// A workflow's job as a link to its page, with its state (a job whose row is gone completed
/// and was deleted, so it has no page).
pub(crate) fn waiting_on(ctx: &Ctx, w: &WaitingOn) -> Markup {
    match w.state {
        Some(s) => html! { a href=(ctx.url(&format!("/jobs/{}", w.id))) { "job " (w.id) } " " (state(s)) },
        None => html! { "job " (w.id) " " span.muted { "completed, deleted" } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(duration(Some(Duration::from_secs(192))), "3m 12s");
        assert_eq!(duration(Some(Duration::from_secs(90_000))), "1d 1h");
        assert_eq!(duration(None), "-");
    }
}
