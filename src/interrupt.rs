//! SIGINT and SIGTERM as a value a run can wait on beside its work, so the run itself decides
//! what an interruption means at each step (nothing created yet, a create in flight, a task
//! running) and reports it with what it knows.

use tokio::sync::watch;

use crate::outcome::Signal;

/// A handle on the process's interruption; clones see the same signal.
#[derive(Clone)]
pub struct Interrupt {
    received: watch::Receiver<Option<Signal>>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM for the rest of the process. As PID 1 in a
    /// container the process gets no default handling, so both are handled here (GitHub sends
    /// SIGINT, then SIGTERM 7.5 s later).
    pub fn listen() -> Self {
        let (sender, received) = watch::channel(None);
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            let _ = sender.send(Some(signal));
            // Keep the channel open: a closed one would read as "never interrupted".
            std::future::pending::<()>().await;
        });
        Self { received }
    }

    /// An interruption that never comes (tests, embedded use).
    pub fn never() -> Self {
        let (_sender, received) = watch::channel(None);
        Self { received }
    }

    /// The signal, if one has arrived; never waits.
    pub fn received(&self) -> Option<Signal> {
        *self.received.borrow()
    }

    /// Resolves when a signal has arrived (at once if one already has).
    pub async fn signalled(&mut self) -> Signal {
        let signal = match self.received.wait_for(Option::is_some).await {
            Ok(seen) => *seen,
            Err(_) => None,
        };
        match signal {
            Some(signal) => signal,
            None => std::future::pending().await,
        }
    }
}

/// Resolves on SIGINT or SIGTERM; never, if handlers cannot be installed (the default action
/// then applies).
#[cfg(unix)]
pub async fn wait_for_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}

/// Resolves on Ctrl+C (Windows has no SIGTERM; a console close ends the process as before);
/// never, if the handler cannot be installed.
#[cfg(not(unix))]
pub async fn wait_for_signal() -> Signal {
    match tokio::signal::ctrl_c().await {
        Ok(()) => Signal::Interrupt,
        Err(_) => std::future::pending().await,
    }
}
