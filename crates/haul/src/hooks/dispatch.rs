//! Calling the registered hooks: each call guarded so a panicking hook is logged (the first
//! time) and skipped, never unwinding into the stage that committed the transition.

use super::{Hook, Transition};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a transition ended an attempt or a job, for [`Hooks::ended`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Completed,
    /// Failed; runs again after this long.
    Retrying(Duration),
    Snoozed(Duration),
    Cancelled,
    /// In the dead letter; `failed`: an attempt failed with none left (`on_failed` first).
    Discarded {
        failed: bool,
    },
}

struct Entry {
    hook: Arc<dyn Hook>,
    /// Set at its first panic, so it is logged once.
    panicked: AtomicBool,
}

/// The registered hooks, shared by every stage that fires them. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    list: Arc<[Entry]>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("len", &self.list.len()).finish()
    }
}

impl Hooks {
    pub(crate) fn new(hooks: Vec<Arc<dyn Hook>>) -> Self {
        let list = hooks.into_iter().map(|hook| Entry { hook, panicked: AtomicBool::new(false) });
        Hooks { list: list.collect() }
    }

    /// True when no hook is registered: callers then skip building the [`Transition`].
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn started(&self, job: &Transition) {
        self.each("on_started", |h| h.on_started(job));
    }

    /// Tells every hook how `job` ended.
    pub(crate) fn ended(&self, job: &Transition, ended: Ended) {
        match ended {
            Ended::Completed => self.each("on_completed", |h| h.on_completed(job)),
            Ended::Retrying(after) => self.each("on_failed", |h| h.on_failed(job, Some(after))),
            Ended::Snoozed(d) => self.each("on_snoozed", |h| h.on_snoozed(job, d)),
            Ended::Cancelled => self.each("on_cancelled", |h| h.on_cancelled(job)),
            Ended::Discarded { failed } => {
                if failed {
                    self.each("on_failed", |h| h.on_failed(job, None));
                }
                self.each("on_discarded", |h| h.on_discarded(job));
            }
        }
    }

    fn each(&self, name: &'static str, call: impl Fn(&dyn Hook)) {
        for e in self.list.iter() {
            let done = std::panic::catch_unwind(AssertUnwindSafe(|| call(&*e.hook)));
            if let Err(panic) = done
                && !e.panicked.swap(true, Ordering::Relaxed)
            {
                let msg = panic_message(&*panic);
                tracing::error!(hook = name, panic = %msg, "a hook panicked; it is skipped for this transition (logged once per hook)");
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    let text = panic.downcast_ref::<&str>().copied();
    text.or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string panic payload")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::RecordedBy;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Calls {
        failed: AtomicUsize,
        discarded: AtomicUsize,
    }

    impl Hook for Calls {
        fn on_failed(&self, _: &Transition, _: Option<Duration>) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        fn on_discarded(&self, _: &Transition) {
            self.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    struct Panics;

    impl Hook for Panics {
        fn on_discarded(&self, _: &Transition) {
            panic!("hook bug");
        }
    }

    fn job() -> Transition {
        Transition {
            id: 1,
            kind: "k".into(),
            queue: "q".into(),
            attempt: 1,
            run_time: None,
            queue_wait: None,
            error: None,
            by: RecordedBy::Worker,
        }
    }

    #[test]
    fn a_panicking_hook_does_not_stop_the_others() {
        let calls = Arc::new(Calls::default());
        let hooks = Hooks::new(vec![Arc::new(Panics), calls.clone()]);
        hooks.ended(&job(), Ended::Discarded { failed: true });
        hooks.ended(&job(), Ended::Discarded { failed: false });
        assert_eq!(calls.failed.load(Ordering::Relaxed), 1, "only a failed attempt calls on_failed");
        assert_eq!(calls.discarded.load(Ordering::Relaxed), 2);
        assert!(hooks.list[0].panicked.load(Ordering::Relaxed));
    }
}
