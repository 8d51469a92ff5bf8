//! SIGINT/SIGTERM for the binary (the library installs no signal handlers): the first signal
//! asks for a graceful shutdown, a second forces the hard path.

use tokio_util::sync::CancellationToken;

/// Tokens fired by the first and second SIGINT/SIGTERM.
pub struct Signals {
    /// Fired by the first signal: stop fetching, let running jobs finish.
    pub graceful: CancellationToken,
    /// Fired by the second signal: cancel and release running jobs now.
    pub force: CancellationToken,
}

/// Starts listening for SIGINT and SIGTERM.
pub fn listen() -> Signals {
    let signals = Signals { graceful: CancellationToken::new(), force: CancellationToken::new() };
    let (graceful, force) = (signals.graceful.clone(), signals.force.clone());
    tokio::spawn(async move {
        next_signal().await;
        eprintln!("\nshutting down gracefully (press Ctrl-C again to force)...");
        graceful.cancel();
        next_signal().await;
        eprintln!("forcing shutdown: releasing running jobs");
        force.cancel();
    });
    signals
}

async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The error of a command stopped by SIGINT or SIGTERM; `main` prints "interrupted" and
/// exits 130 for it.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Runs `work` to its end unless the first signal comes first; then `work` is dropped (a
/// transaction it held rolls back) and the result is [`Interrupted`].
pub async fn interruptible<T>(
    signals: &Signals,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        r = work => r,
        () = signals.graceful.cancelled() => Err(Interrupted.into()),
    }
}
