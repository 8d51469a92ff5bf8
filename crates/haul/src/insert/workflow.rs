//! A [`Workflow`]: jobs inserted together, some waiting on others (a chain, or any DAG), with
//! the edges between them, in one statement. Every check runs before SQL: names, references,
//! cycles and the cap.

use super::{IntoNewJob, NewJob, build_batch};
use crate::db::{Edges, InsertBatch};
use crate::error::{Error, Result};
use crate::workflow::DEPENDENTS_KEY;
use std::collections::HashMap;

/// Jobs inserted together, each a named step that may wait on other steps: it stays `pending`
/// until every step it waits on has completed, becomes available in the transaction that
/// completes the last of them, and is cancelled (saying which step ended how) as soon as one
/// of them is discarded or cancelled, and so on down the graph.
///
/// Steps wait only on steps of the same workflow, so every edge is known at insert and a cycle
/// is refused there ([`Error::WorkflowCycle`]), with nothing inserted. A workflow holds up to
/// [`ClientConfig::with_fan_out_max`](crate::ClientConfig::with_fan_out_max) steps.
///
/// ```
/// use haul::{NewJob, Workflow};
/// let job = |kind: &str| NewJob::raw(kind, serde_json::json!({ "order": 42 }));
/// // a diamond: fetch, then resize and scan side by side, then publish
/// let wf = Workflow::new()
///     .step("fetch", job("fetch"))
///     .step_after("resize", job("resize"), ["fetch"])
///     .step_after("scan", job("scan"), ["fetch"])
///     .step_after("publish", job("publish"), ["resize", "scan"]);
/// assert_eq!(wf.len(), 4);
/// let chain = Workflow::chain([job("reserve"), job("charge"), job("confirm")]);
/// assert_eq!(chain.len(), 3);
/// ```
#[derive(Debug, Default)]
pub struct Workflow {
    steps: Vec<Step>,
}

#[derive(Debug)]
struct Step {
    name: String,
    job: NewJob,
    after: Vec<String>,
}

impl Workflow {
    /// A workflow with no steps yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jobs that run one after the other, each once the one before it completed; the steps
    /// are named by position (`"0"`, `"1"`, ...).
    pub fn chain<I>(jobs: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let mut wf = Self::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let after = if i == 0 { Vec::new() } else { vec![(i - 1).to_string()] };
            wf = wf.step_after(i.to_string(), job, after);
        }
        wf
    }

    /// A step that waits on nothing.
    pub fn step(self, name: impl Into<String>, job: impl IntoNewJob) -> Self {
        self.step_after(name, job, Vec::<String>::new())
    }

    /// A step that waits until the steps named in `after` have all completed.
    pub fn step_after<A>(mut self, name: impl Into<String>, job: impl IntoNewJob, after: A) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
    {
        let after = after.into_iter().map(Into::into).collect();
        self.steps.push(Step { name: name.into(), job: job.into_new_job(), after });
        self
    }

    /// Steps in the workflow.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether it has no steps (such a workflow is refused at insert).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// A workflow as inserted: each step's name and job id, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InsertedWorkflow {
    /// `(step name, job id)`, in the order the steps were given.
    pub steps: Vec<(String, i64)>,
}

impl InsertedWorkflow {
    /// The job id of the step named `name`.
    pub fn id(&self, name: &str) -> Option<i64> {
        self.steps.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }
}

/// A workflow ready for its statement.
pub(crate) struct Planned {
    pub names: Vec<String>,
    pub jobs: InsertBatch,
    pub waits: Vec<bool>,
    pub edges: Edges,
}

/// Validates `wf` (size, names, references, cycles, every job) before any SQL, and marks each
/// step that others wait on so its completion settles them.
pub(crate) fn plan_workflow(wf: Workflow, max_steps: usize, max_payload: usize) -> Result<Planned> {
    let n = wf.steps.len();
    if n == 0 {
        return Err(Error::invalid_option("workflow", "a workflow needs at least one step"));
    }
    if n > max_steps {
        return Err(Error::FanOutTooLarge { children: n, max: max_steps });
    }
    let edges = edges(&wf.steps)?;
    refuse_cycles(&wf.steps, &edges)?;
    let mut waited_on = vec![false; n];
    edges.on.iter().for_each(|&p| waited_on[p as usize - 1] = true);
    let mut names = Vec::with_capacity(n);
    let mut jobs = Vec::with_capacity(n);
    for (step, marked) in wf.steps.into_iter().zip(&waited_on) {
        names.push(step.name);
        jobs.push(mark(step.job, *marked)?);
    }
    let waits = (1..=n as i32).map(|i| edges.waiting.contains(&i)).collect();
    Ok(Planned { names, jobs: build_batch(jobs, max_payload)?, waits, edges })
}

/// Each step's references as 1-based positions; an unknown or repeated name is refused.
fn edges(steps: &[Step]) -> Result<Edges> {
    let mut at = HashMap::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        if s.name.is_empty() || at.insert(s.name.as_str(), i as i32 + 1).is_some() {
            let reason = format!("step names must be non-empty and distinct; `{}` is not", s.name);
            return Err(Error::invalid_option("workflow", reason));
        }
        if s.job.unique.is_some() || s.job.unique_key.is_some() {
            return Err(Error::invalid_option(&s.job.kind, "workflow steps cannot be unique jobs"));
        }
    }
    let mut edges = Edges::default();
    for (i, s) in steps.iter().enumerate() {
        for name in &s.after {
            let Some(&p) = at.get(name.as_str()) else {
                let reason =
                    format!("step `{}` waits on `{name}`, which is not a step of this workflow", s.name);
                return Err(Error::invalid_option("workflow", reason));
            };
            edges.waiting.push(i as i32 + 1);
            edges.on.push(p);
        }
    }
    Ok(edges)
}

/// Refuses a cycle (a step waiting on itself included), naming the steps on it.
fn refuse_cycles(steps: &[Step], edges: &Edges) -> Result<()> {
    let n = steps.len();
    let mut waits_on: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (&w, &p) in edges.waiting.iter().zip(&edges.on) {
        waits_on[w as usize - 1].push(p as usize - 1);
    }
    // 0 unvisited, 1 on the current path, 2 done
    let mut mark = vec![0u8; n];
    let mut path = Vec::new();
    for start in 0..n {
        if let Some(cycle) = visit(start, &waits_on, &mut mark, &mut path) {
            let steps = cycle.into_iter().map(|i| steps[i].name.clone()).collect();
            return Err(Error::WorkflowCycle { steps });
        }
    }
    Ok(())
}

/// Depth-first search from `i`; the steps of a cycle it finds, first one repeated at the end.
fn visit(i: usize, waits_on: &[Vec<usize>], mark: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
    match mark[i] {
        2 => return None,
        1 => {
            let from = path.iter().position(|&p| p == i).unwrap_or(0);
            let mut cycle = path[from..].to_vec();
            cycle.push(i);
            return Some(cycle);
        }
        _ => {}
    }
    mark[i] = 1;
    path.push(i);
    for &p in &waits_on[i] {
        if let Some(c) = visit(p, waits_on, mark, path) {
            return Some(c);
        }
    }
    path.pop();
    mark[i] = 2;
    None
}

/// `job` with [`DEPENDENTS_KEY`] in its metadata when other steps wait on it.
fn mark(mut job: NewJob, waited_on: bool) -> Result<NewJob> {
    if !waited_on {
        return Ok(job);
    }
    let meta = job.metadata.as_deref().unwrap_or("{}");
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(meta).map_err(|_| {
        Error::invalid_option(&job.kind, "in a workflow, a job's metadata must be a JSON object")
    })?;
    map.insert(DEPENDENTS_KEY.into(), true.into());
    job.metadata = Some(serde_json::Value::Object(map).to_string());
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> NewJob {
        NewJob::raw("step", serde_json::json!({}))
    }

    #[test]
    fn a_cycle_is_refused_naming_its_steps() {
        let wf = Workflow::new().step_after("a", job(), ["c"]).step_after("b", job(), ["a"]).step_after(
            "c",
            job(),
            ["b"],
        );
        let err = plan_workflow(wf, 10, 1024).err().unwrap();
        let Error::WorkflowCycle { steps } = &err else { panic!("{err}") };
        assert_eq!(steps, &["a", "c", "b", "a"]);
        assert!(err.to_string().contains("a → c → b → a"), "{err}");
        let itself = Workflow::new().step_after("a", job(), ["a"]);
        assert!(matches!(plan_workflow(itself, 10, 1024), Err(Error::WorkflowCycle { .. })));
    }

    #[test]
    fn unknown_repeated_and_too_many_steps_are_refused() {
        let unknown = Workflow::new().step_after("a", job(), ["x"]);
        assert!(plan_workflow(unknown, 10, 1024).err().unwrap().to_string().contains("`x`"));
        let twice = Workflow::new().step("a", job()).step("a", job());
        assert!(plan_workflow(twice, 10, 1024).is_err());
        let long = Workflow::chain((0..11).map(|_| job()));
        assert!(matches!(plan_workflow(long, 10, 1024), Err(Error::FanOutTooLarge { children: 11, .. })));
    }

    #[test]
    fn a_diamond_waits_and_marks_what_is_waited_on() {
        let wf = Workflow::new()
            .step("a", job())
            .step_after("b", job(), ["a"])
            .step_after("c", job(), ["a"])
            .step_after("d", job(), ["b", "c"]);
        let p = plan_workflow(wf, 10, 1024).unwrap();
        assert_eq!(p.waits, [false, true, true, true]);
        assert_eq!((p.edges.waiting, p.edges.on), (vec![2, 3, 4, 4], vec![1, 1, 2, 3]));
        let marked: Vec<bool> = p
            .jobs
            .metadata
            .iter()
            .map(|m| m.as_deref().is_some_and(|m| m.contains(DEPENDENTS_KEY)))
            .collect();
        assert_eq!(marked, [true, true, true, false]);
    }
}
