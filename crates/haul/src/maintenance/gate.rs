//! Runs a maintenance service while this process leads: a round at once when leadership
//! comes (a new leader rescues without waiting a period), then one per period; nothing while
//! another process leads. A round in progress never holds up the elector.

use super::Lead;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A maintenance service: one bounded round, repeated every period while leading.
pub(crate) trait Round: Send + 'static {
    /// The wait between rounds.
    fn period(&self) -> Duration;
    /// One round; `lead` is the leadership it started under.
    fn round(&mut self, lead: Lead) -> impl Future<Output = ()> + Send;
}

/// Runs `service` until `stop` fires or the elector is gone.
pub(crate) async fn run<R: Round>(mut service: R, mut lead: watch::Receiver<Lead>, stop: CancellationToken) {
    loop {
        let now = *lead.borrow_and_update();
        if now.leader {
            service.round(now).await;
        }
        let wait = if now.leader { service.period() } else { Duration::MAX };
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            changed = lead.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counter(Arc<AtomicUsize>);

    impl Round for Counter {
        fn period(&self) -> Duration {
            Duration::from_secs(1)
        }

        async fn round(&mut self, _: Lead) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_run_only_while_leading_and_at_once_when_leadership_comes() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = watch::channel(Lead::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(Counter(rounds.clone()), rx, stop.clone()));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 0, "not leading: no round");
        tx.send_replace(Lead { leader: true, rescue_from: None });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1, "a round at once on election");
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "then one per period");
        tx.send_replace(Lead::default());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "no round after leadership is lost");
        stop.cancel();
        task.await.unwrap();
    }
}
