//! What a test expects of an enqueued job of kind `J`: its args (equal to a value, or passing
//! a predicate), queue, priority, states and tags; and how that expectation reads in a message.

use crate::job::{Job, JobRow, JobState};
use std::fmt;

/// The states a job waits in to run: what "enqueued" means unless [`Expect::with_state`] says
/// otherwise.
pub const ENQUEUED_STATES: [JobState; 4] =
    [JobState::Pending, JobState::Scheduled, JobState::Available, JobState::Retryable];

type Predicate<J> = Box<dyn Fn(&J) -> bool + Send + Sync>;

/// What a job of kind `J` must look like to match: every condition set must hold. Built from
/// [`Expect::any`], [`Expect::args`] (or the job value itself, through `From`) or
/// [`Expect::matching`], narrowed with the `with_*` setters.
///
/// By default a job matches in any of the [`ENQUEUED_STATES`], the states it waits to run in;
/// [`Expect::with_state`] picks others (a job that already ran and was kept, or a dead letter).
///
/// ```
/// use haul::testing::Expect;
/// use haul::{Job, JobState};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize, PartialEq)]
/// struct SendEmail { to: String }
/// impl Job for SendEmail { const KIND: &'static str = "send_email"; }
///
/// let exactly = Expect::args(SendEmail { to: "ada@example.com".into() }).with_queue("default");
/// let to_ada = Expect::matching(|j: &SendEmail| j.to.starts_with("ada@"));
/// let dead = Expect::<SendEmail>::any().with_state(JobState::Discarded).with_tag("welcome");
/// # let _ = (exactly, to_ada, dead);
/// ```
pub struct Expect<J> {
    args: Option<(Predicate<J>, String)>,
    queue: Option<String>,
    priority: Option<i16>,
    states: Vec<JobState>,
    tags: Vec<String>,
}

impl<J: Job> Expect<J> {
    /// Any job of kind `J`.
    pub fn any() -> Self {
        Expect { args: None, queue: None, priority: None, states: Vec::new(), tags: Vec::new() }
    }

    /// A job of kind `J` whose args decode to a value equal to `job`.
    pub fn args(job: J) -> Self
    where
        J: PartialEq + Sync,
    {
        let shown = serde_json::to_string(&job).unwrap_or_else(|e| format!("<args that do not encode: {e}>"));
        Self::any().with_args_where(move |j| *j == job, format!("args {shown}"))
    }

    /// A job of kind `J` whose args decode to a value `pred` accepts.
    pub fn matching(pred: impl Fn(&J) -> bool + Send + Sync + 'static) -> Self {
        Self::any().with_args_where(pred, "args matching a predicate".into())
    }

    fn with_args_where(mut self, pred: impl Fn(&J) -> bool + Send + Sync + 'static, shown: String) -> Self {
        self.args = Some((Box::new(pred), shown));
        self
    }

    /// Only in `queue`.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Only at `priority`.
    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Only in `state`; call it again to allow more states. Replaces the default, the
    /// [`ENQUEUED_STATES`].
    pub fn with_state(mut self, state: JobState) -> Self {
        self.states.push(state);
        self
    }

    /// Only with `tag` among its tags; call it again to require more.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// The states a matching job may be in.
    pub(super) fn states(&self) -> &[JobState] {
        if self.states.is_empty() { &ENQUEUED_STATES } else { &self.states }
    }

    /// Whether `row` passes every condition but the args.
    pub(super) fn row_matches(&self, row: &JobRow) -> bool {
        self.states().contains(&row.state)
            && self.queue.as_ref().is_none_or(|q| *q == row.queue)
            && self.priority.is_none_or(|p| p == row.priority)
            && self.tags.iter().all(|t| row.tags.contains(t))
    }

    /// Whether a job's decoded args pass the args condition.
    pub(super) fn args_match(&self, args: &J) -> bool {
        self.args.as_ref().is_none_or(|(pred, _)| pred(args))
    }

    /// Whether the args take part in the match (a job whose args do not decode then fails it).
    pub(super) fn checks_args(&self) -> bool {
        self.args.is_some()
    }
}

impl<J: Job + PartialEq + Sync> From<J> for Expect<J> {
    /// The same as [`Expect::args`]: a job of kind `J` with args equal to `job`.
    fn from(job: J) -> Self {
        Expect::args(job)
    }
}

/// Reads as the expectation it is, to follow "a" or "no": "job of kind `send_email` with
/// args {..}, in queue `mail`, in state available".
impl<J: Job> fmt::Display for Expect<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job of kind `{}`", J::KIND)?;
        if let Some((_, shown)) = &self.args {
            write!(f, " with {shown}")?;
        }
        if let Some(q) = &self.queue {
            write!(f, ", in queue `{q}`")?;
        }
        if let Some(p) = self.priority {
            write!(f, ", at priority {p}")?;
        }
        if !self.tags.is_empty() {
            write!(f, ", tagged {:?}", self.tags)?;
        }
        let states: Vec<&str> = self.states().iter().map(|s| s.as_str()).collect();
        write!(f, ", in state {}", states.join(" or "))
    }
}
