//! Runs a maintenance service while this process leads: one round per period, the first at
//! once when leadership comes for the services recovery waits on (a new leader rescues and
//! schedules without waiting a period); nothing while another process leads. A round in
//! progress never holds up the elector.

use super::Lead;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A maintenance service: one bounded round, repeated every period while leading.
pub(crate) trait Round: Send + 'static {
    /// The wait between rounds.
    fn period(&self) -> Duration;
    /// Whether a new leader runs a round at once rather than after a period.
    fn at_once(&self) -> bool {
        false
    }
    /// One round; `lead` is the leadership it started under.
    fn round(&mut self, lead: Lead) -> impl Future<Output = ()> + Send;
}

/// Runs `service` until `stop` fires or the elector is gone.
pub(crate) async fn run<R: Round>(mut service: R, mut lead: watch::Receiver<Lead>, stop: CancellationToken) {
    let mut leading = false;
    loop {
        let now = *lead.borrow_and_update();
        let elected = now.leader && !leading;
        leading = now.leader;
        if now.leader && (!elected || service.at_once()) {
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

    struct Counter(Arc<AtomicUsize>, bool);

    impl Round for Counter {
        fn period(&self) -> Duration {
            Duration::from_secs(1)
        }

        fn at_once(&self) -> bool {
            self.1
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
        let task = tokio::spawn(run(Counter(rounds.clone(), true), rx, stop.clone()));
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

    #[tokio::test(start_paused = true)]
    async fn a_service_not_needed_at_once_waits_a_period_after_election() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = watch::channel(Lead { leader: true, rescue_from: None });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(Counter(rounds.clone(), false), rx, stop.clone()));
        tokio::time::sleep(Duration::from_millis(990)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 0, "no round at election");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1, "the first after a period");
        drop(tx);
        task.await.unwrap();
        stop.cancel();
    }
}
