//! Running a bulk action (or its dry run) and printing what it did, as text or JSON; and the
//! same report for an action on one job by id.

use haul::{BulkAction, BulkReport, Control};

/// The action's name in output.
pub fn name(action: BulkAction) -> &'static str {
    match action {
        BulkAction::Retry(_) => "retry",
        BulkAction::Cancel => "cancel",
        BulkAction::Delete => "delete",
        BulkAction::Redrive(_) => "redrive",
        _ => "purge",
    }
}

/// Runs `action` on `filter` (or only counts, `dry_run`) and prints the report.
pub async fn run(
    control: &Control,
    action: BulkAction,
    filter: &haul::JobFilter,
    dry_run: bool,
    json: bool,
) -> haul::Result<()> {
    let report =
        if dry_run { control.count(action, filter).await? } else { control.run(action, filter).await? };
    if json {
        let mut v = serde_json::to_value(report).expect("a report is JSON");
        v["action"] = name(action).into();
        v["dry_run"] = dry_run.into();
        println!("{v}");
    } else {
        println!("{}", sentence(action, report, dry_run));
    }
    Ok(())
}

/// "retried 7 jobs in 4 batches", "would cancel 2 jobs and ask 1 running job's worker to stop it".
fn sentence(action: BulkAction, r: BulkReport, dry_run: bool) -> String {
    let done = match action {
        BulkAction::Retry(_) => "retried",
        BulkAction::Cancel => "cancelled",
        BulkAction::Delete => "deleted",
        BulkAction::Redrive(_) => "redrove",
        _ => "purged",
    };
    let verb = if dry_run { format!("would {}", name(action)) } else { done.to_owned() };
    let mut s = format!("{verb} {} {}", r.changed, jobs(r.changed));
    if r.requested > 0 {
        let ask = if dry_run { "ask" } else { "asked" };
        s += &format!(" and {ask} the workers of {} running {} to stop", r.requested, jobs(r.requested));
    }
    if !dry_run {
        s += &format!(" ({} {})", r.batches, if r.batches == 1 { "batch" } else { "batches" });
    }
    s
}

fn jobs(n: u64) -> &'static str {
    if n == 1 { "job" } else { "jobs" }
}

/// The JSON report of an action on one job: `{"id", "action", "changed", "requested"}`.
pub fn one_json(id: i64, action: &str, changed: u64, requested: u64) {
    let v = serde_json::json!({"id": id, "action": action, "changed": changed, "requested": requested});
    println!("{v}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul::RetryAttempts;

    #[test]
    fn reports_read_as_sentences() {
        let r = |changed, requested, batches| {
            let mut r = BulkReport::default();
            (r.changed, r.requested, r.batches) = (changed, requested, batches);
            r
        };
        let retry = BulkAction::Retry(RetryAttempts::Keep);
        assert_eq!(sentence(retry, r(7, 0, 4), false), "retried 7 jobs (4 batches)");
        assert_eq!(
            sentence(BulkAction::Cancel, r(1, 2, 0), true),
            "would cancel 1 job and ask the workers of 2 running jobs to stop"
        );
    }
}
