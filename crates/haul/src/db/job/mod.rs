//! Every statement on the jobs table, by concern: inserting, claiming, completing, leases,
//! maintenance, operators' reads and controls, the depth the stats report, and (with the
//! `testing` feature) the reads and claims of users' test helpers, and fan-out batches (`flow`,
//! which also owns the `batches` table, only ever written with `jobs`) and dependencies
//! (`depend`, which owns the `dependencies` table likewise) and sagas (`saga`, the `sagas`
//! table). Nothing else in Haul
//! touches `jobs` (its upkeep through the catalog is `db::vacuum`'s).
//!
//! Statements that pick rows (schedule, rescue, clean) update
//! `WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED))`: no join at all; the claim
//! likewise, by the picked rows' addresses per slot (`claim`). Statements on a
//! batch of held attempts are fenced (`columns`). The worker's sessions also turn off
//! sequential scans, bitmap scans and nested loops ([`WORKER_SESSION`]), so no statistics can
//! make a claim read and sort every available row or loop over a batch once per row. Ids are sent sorted, so batch statements lock rows in one order.

mod admin;
mod claim;
mod claim_many;
mod columns;
mod complete;
mod control;
mod depend;
mod depth;
mod flow;
mod insert;
mod lease;
mod limited;
mod maintain;
#[cfg(test)]
mod plan_tests;
mod running;
mod saga;
mod slot;
#[cfg(feature = "testing")]
mod testing;

pub(crate) use claim::{ClaimKey, ClaimedJob, JsonText};
pub(crate) use claim_many::QueueClaim;
pub(crate) use complete::CompletionBatch;
pub(crate) use control::{Bulk, JobSelection};
pub(crate) use depend::Edges;
pub(crate) use depth::{DepthRow, OldestRow};
pub(crate) use flow::BatchRow;
pub(crate) use insert::{InsertBatch, UniqueIds};
pub(crate) use limited::{Allowance, LimitedClaim, PartitionBy, RunningParts};
pub(crate) use maintain::RescuedJob;
pub(crate) use saga::SagaRow;

/// Planner settings of the worker's own sessions (with its `statement_timeout`). A queue
/// table's statistics are always stale — it swings between empty and millions of rows between
/// two ANALYZEs — and each of these, chosen on stale statistics, turned a statement that touches
/// a batch of rows into one that reads the whole table: a sequential scan, a bitmap scan of
/// every available job sorted for the first few, a nested loop over the batch per row. Every
/// worker statement has a plan without them: index scans, hash and merge joins. Prepared
/// statements keep one generic plan: planning each run anew over the table's slots (migration
/// 0015) cost more than the run itself.
pub(crate) const WORKER_SESSION: [(&str, &str); 4] = [
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
    ("enable_nestloop", "off"),
    ("plan_cache_mode", "force_generic_plan"),
];

/// A statement returning rows of `T`, its arguments still to bind.
type Query<'q, T> = sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// The rendered statements on `jobs` for one schema.
pub(super) struct JobSql {
    insert: insert::InsertSql,
    claim: claim::ClaimSql,
    /// Claims of many queues in one statement.
    claim_many: std::sync::Arc<str>,
    complete: complete::CompleteSql,
    lease: lease::LeaseSql,
    limited: limited::LimitedSql,
    maintain: maintain::MaintainSql,
    admin: admin::AdminSql,
    control: control::ControlSql,
    depth: depth::DepthSql,
    depend: depend::DependSql,
    saga: saga::SagaSql,
    flow: flow::FlowSql,
    running: running::RunningSql,
    slot: slot::SlotSql,
    #[cfg(feature = "testing")]
    testing: testing::TestingSql,
}

impl JobSql {
    pub(super) fn new(schema: &str) -> Self {
        JobSql {
            insert: insert::InsertSql::new(schema),
            claim: claim::ClaimSql::new(schema),
            claim_many: claim_many::sql(schema),
            complete: complete::CompleteSql::new(schema),
            lease: lease::LeaseSql::new(schema),
            limited: limited::LimitedSql::new(schema),
            maintain: maintain::MaintainSql::new(schema),
            admin: admin::AdminSql::new(schema),
            control: control::ControlSql::new(schema),
            depth: depth::DepthSql::new(schema),
            flow: flow::FlowSql::new(schema),
            depend: depend::DependSql::new(schema),
            saga: saga::SagaSql::new(schema),
            running: running::RunningSql::new(schema),
            slot: slot::SlotSql::new(schema),
            #[cfg(feature = "testing")]
            testing: testing::TestingSql::new(schema),
        }
    }
}

#[cfg(test)]
impl JobSql {
    /// Every rendered statement, by name.
    fn all(&self) -> Vec<(&'static str, &std::sync::Arc<str>)> {
        let (i, c, f, l, m, a) =
            (&self.insert, &self.claim, &self.complete, &self.lease, &self.maintain, &self.admin);
        let mut all = vec![
            ("insert_one", &i.one.routed),
            ("insert_one_direct", &i.one.direct[0]),
            ("insert_many", &i.many.routed),
            ("insert_many_direct", &i.many.direct[1]),
            ("insert_unique_many", &i.unique_many.per_row),
            ("insert_unique_many_shared", &i.unique_many.shared),
            ("insert_unique_plain", &i.unique_plain.per_row),
            ("insert_unique_plain_shared", &i.unique_plain.shared),
            ("get_available", &c.first),
            ("get_available_after", &c.after),
            ("get_available_many", &self.claim_many),
            ("complete_delete_many", &f.delete_many.any),
            ("complete_delete_many_in_slot", &f.delete_many.one[1]),
            ("complete_keep_many", &f.keep_many.any),
            ("complete_keep_many_in_slot", &f.keep_many.one[1]),
            ("set_state_if_running_many", &f.set_state_if_running_many),
            ("heartbeat_many", &l.heartbeat_many),
            ("running_by_partition", &self.limited.running),
            ("claim_limited", &self.limited.claim),
            ("release_many", &l.release_many),
            ("schedule_due", &m.schedule_due),
            ("rescue_many", &m.rescue_many),
            ("delete_finalized_before", &m.delete_finalized_before),
            ("get", &a.get),
            ("count_by_queue_state", &a.count_by_queue_state),
            ("cancel", &a.cancel),
            ("retry", &a.retry),
            ("delete", &a.delete),
            ("list_where", &self.control.list),
            ("scan_floor", &self.control.scan_floor),
            ("depth_size", &self.depth.size),
            ("depth_exact", &self.depth.exact),
            ("depth_sample", &self.depth.sample),
            ("depth_indexed", &self.depth.indexed),
            ("oldest_available", &self.depth.oldest),
            ("batch_insert", &self.flow.insert),
            ("batch_lock", &self.flow.lock),
            ("batch_lock_open", &self.flow.lock_open),
            ("batch_settle", &self.flow.settle),
            ("batch_get", &self.flow.get),
            ("workflow_open", &self.flow.open),
            ("workflow_insert", &self.depend.insert),
            ("pending_lock", &self.depend.lock_dependents),
            ("pending_lock_open", &self.depend.lock_open),
            ("pending_settle_dependents", &self.depend.settle_dependents),
            ("pending_settle_jobs", &self.depend.settle_jobs),
            ("waits_on", &self.depend.waits_on),
            ("saga_insert", &self.saga.insert),
            ("saga_lock", &self.saga.lock),
            ("saga_lock_open", &self.saga.lock_open),
            ("saga_settle", &self.saga.settle),
            ("saga_get", &self.saga.get),
            ("running_by_worker", &self.running.by_worker),
            ("evacuate", &self.slot.evacuate),
        ];
        #[cfg(feature = "testing")]
        {
            let t = &self.testing;
            all.extend([
                ("list_by_kind", &t.list_by_kind),
                ("claim_one", &t.claim_one),
                ("available_now", &t.available_now),
            ]);
        }
        let actions = ["retry", "cancel", "delete", "purge"];
        for (i, name) in actions.into_iter().enumerate() {
            all.push((name, &self.control.count[i]));
            all.push((name, &self.control.batch[i]));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::JobSql;

    /// A `{name}` placeholder no rendering replaced (a misspelt fragment or state).
    fn placeholder(sql: &str) -> Option<&str> {
        sql.match_indices('{').find_map(|(i, _)| {
            let rest = &sql[i + 1..];
            let end = rest.find('}')?;
            let name = &rest[..end];
            let word = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            word.then_some(name)
        })
    }

    #[test]
    fn every_placeholder_is_rendered() {
        for (name, sql) in JobSql::new("s").all() {
            assert_eq!(placeholder(sql), None, "{name}:\n{sql}");
        }
    }
}
