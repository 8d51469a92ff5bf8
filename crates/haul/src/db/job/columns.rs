//! What the jobs statements share, each written once: the fence that matches a batch to its
//! running rows, the NOTIFY of each distinct queue, the error appended to a row, the states
//! written into statement text, and the small rows several statements return.
//!
//! Fenced batch statements compare the row's state with a column of the batch
//! (`j.state = d.running`, `d.running` all running) instead of a constant. With a constant,
//! statistics taken while nothing ran estimate ~0 running rows, and the planner drives the
//! join from a scan of `jobs` (the lease index, or the whole table) with the batch as the
//! inner side: batch × running rows comparisons. As a join clause the state puts no
//! restriction on `jobs` to misjudge: generic plans probe the primary key once per batch row,
//! and custom plans do that or, on small tables, hash the batch. They also say
//! `j.id = ANY($2)`: whatever the plan, `jobs` is then read through the primary key for the
//! batch's ids only, even on statistics that call a large table nearly empty (as a vacuum
//! right after a held xmin horizon leaves them).

use crate::db::render;
use crate::job::JobState;
use std::sync::Arc;

/// `{fence_batch}`: the batch of a fenced statement, ids `$2` and attempts `$3`, as
/// `d(id, attempt, running)`; joined to `jobs j` by [`FENCE`].
const FENCE_BATCH: &str = "unnest($2::bigint[], $3::smallint[], {running_column})
         AS d(id, attempt, running)";

/// `{running_column}`: the running state as a column of the batch, one per id in `$2`.
const RUNNING_COLUMN: &str = "array_fill({running}::text, ARRAY[cardinality($2)])";

/// `{fence}`: row `j` is batch entry `d`, at the same attempt, still running.
const FENCE: &str = "j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running";

/// Renders a jobs statement for `schema`: the shared fragments (`{fence_batch}`, `{fence}`,
/// `{running_column}`), then each state (`{running}`: `'running'`, ...; `{final}`: the final
/// states as a list), then [`render`]'s placeholders.
pub(super) fn statement(template: &str, schema: &str) -> Arc<str> {
    let mut sql = template
        .replace("{fence_batch}", FENCE_BATCH)
        .replace("{fence}", FENCE)
        .replace("{running_column}", RUNNING_COLUMN)
        .replace("{final}", &final_states());
    for state in JobState::ALL {
        sql = sql.replace(&format!("{{{state}}}"), &quoted(state.as_str()));
    }
    render(&sql, schema)
}

/// `s` as an SQL string literal (`s` is one of Haul's own names: no quote to escape).
pub(super) fn quoted(s: &str) -> String {
    format!("'{s}'")
}

/// The final states, quoted and comma-separated in lifecycle order (`jobs_finalized`'s
/// predicate lists them in that order).
fn final_states() -> String {
    let finals = JobState::ALL.into_iter().filter(|s| s.is_final());
    finals.map(|s| quoted(s.as_str())).collect::<Vec<_>>().join(", ")
}

/// Notifies `{channel}` once per distinct queue among `rows` (a CTE, with a `WHERE` if
/// needed), as a scalar subquery for the select list: its count makes it run.
pub(super) fn notify_each_queue(rows: &str) -> String {
    format!("(SELECT count(pg_notify('{{channel}}', q.queue)) FROM (SELECT DISTINCT queue FROM {rows}) q)")
}

/// Notifies `{control}` once per job among `rows` (a CTE returning `id, kind, queue, attempt,
/// state, error`) that it cancelled, as `cancelled:{json}`: delivered at commit, it tells the
/// maintenance leader's hooks. A scalar subquery for the select list, like
/// [`notify_each_queue`]. The error is cut so the payload stays under NOTIFY's 8,000 bytes.
pub(super) fn notify_cancelled(rows: &str) -> String {
    format!(
        "(SELECT count(pg_notify('{{control}}', 'cancelled:' || json_build_object('id', id, 'kind', kind,
            'queue', queue, 'attempt', attempt, 'error', left(error, 2000))::text))
          FROM {rows} WHERE state = {{cancelled}})"
    )
}

/// The last error appended to row `j`, as a `RETURNING` column `error`.
pub(super) const LAST_ERROR: &str = "j.errors[cardinality(j.errors)]->>'error' AS error";

/// Row `j`'s `errors` with one more entry for its current attempt, at the statement's time:
/// `class` and `error` are SQL expressions; `with_worker` records the worker that held it.
pub(super) fn append_error(class: &str, error: &str, with_worker: bool) -> String {
    let worker = if with_worker { ", 'worker', j.attempted_by" } else { "" };
    format!(
        "array_append(j.errors, jsonb_build_object('at', {{now}}, 'attempt', j.attempt,
            'class', {class}, 'error', {error}{worker}))"
    )
}

/// A statement's `ids` column: an array of job ids.
#[derive(sqlx::FromRow)]
pub(super) struct Ids {
    pub ids: Vec<i64>,
}

/// One job's id and the state its row is in.
#[derive(sqlx::FromRow)]
pub(super) struct IdState {
    pub id: i64,
    pub state: JobState,
}
