//! The job filter as a query string or form fields ([`FilterParams`]): parsed into a
//! [`JobFilter`] with a clear error for a bad value, and written back into links and forms.

use crate::error::WebError;
use haul::{JobFilter, JobState};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

/// The filter fields; an empty field sets no condition.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct FilterParams {
    pub state: String,
    pub queue: String,
    pub kind: String,
    pub tag: String,
    /// An age such as `1h` or `7days` (humantime).
    pub older: String,
    pub newer: String,
}

impl FilterParams {
    /// The checked filter.
    pub fn filter(&self) -> Result<JobFilter, WebError> {
        let mut f = JobFilter::new();
        if let Some(s) = set(&self.state) {
            let state: JobState =
                s.parse().map_err(|_| WebError::BadInput(format!("no state is named {s:?}")))?;
            f = f.with_state(state);
        }
        if let Some(q) = set(&self.queue) {
            f = f.with_queue(q);
        }
        if let Some(k) = set(&self.kind) {
            f = f.with_kind(k);
        }
        if let Some(t) = set(&self.tag) {
            f = f.with_tag(t);
        }
        if let Some(age) = age(&self.older, "older than")? {
            f = f.with_older_than(age);
        }
        if let Some(age) = age(&self.newer, "newer than")? {
            f = f.with_newer_than(age);
        }
        f.validate()?;
        Ok(f)
    }

    /// The older-than age, when given.
    pub fn older_than(&self) -> Result<Option<std::time::Duration>, WebError> {
        age(&self.older, "older than")
    }

    /// The fields as hidden inputs, for a form that acts on the same filter.
    pub fn hidden(&self) -> Markup {
        html! {
            @for (name, value) in self.pairs() {
                input type="hidden" name=(name) value=(value);
            }
        }
    }

    /// The fields as a query string (empty ones left out), without the `?`.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self.pairs()).unwrap_or_default()
    }

    /// What the filter picks, in words.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.pairs().iter().map(|(k, v)| format!("{k} = {v}")).collect();
        if parts.is_empty() { "every job".into() } else { parts.join(", ") }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("state", &self.state),
            ("queue", &self.queue),
            ("kind", &self.kind),
            ("tag", &self.tag),
            ("older", &self.older),
            ("newer", &self.newer),
        ];
        all.into_iter().filter_map(|(k, v)| set(v).map(|v| (k, v))).collect()
    }
}

fn set(value: &str) -> Option<&str> {
    let v = value.trim();
    (!v.is_empty()).then_some(v)
}

fn age(value: &str, what: &str) -> Result<Option<std::time::Duration>, WebError> {
    let Some(v) = set(value) else { return Ok(None) };
    humantime::parse_duration(v)
        .map(Some)
        .map_err(|e| WebError::BadInput(format!("{what} {v:?} is not an age such as 90s, 2h or 7days: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_say_what_is_wrong() {
        let p = FilterParams { state: "dead".into(), ..Default::default() };
        assert!(p.filter().unwrap_err().to_string().contains("no state is named"));
        let p = FilterParams { older: "soon".into(), ..Default::default() };
        assert!(p.filter().unwrap_err().to_string().contains("not an age"));
        let p = FilterParams { queue: "a b".into(), ..Default::default() };
        assert!(p.filter().is_err());
    }

    #[test]
    fn the_query_keeps_only_set_fields() {
        let p = FilterParams { state: "discarded".into(), queue: "m&q".into(), ..Default::default() };
        assert_eq!(p.query(), "state=discarded&queue=m%26q");
        assert!(p.filter().is_err(), "`&` is no queue name");
    }
}
