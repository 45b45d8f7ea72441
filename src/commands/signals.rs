//! The shutdown signals a run listens to from start-up: SIGINT, SIGTERM and SIGHUP (Ctrl-C, a
//! cancelled CI job, `timeout`, a pod or Job being terminated).

/// SIGINT, SIGTERM and SIGHUP, listened to from start-up for the whole run.
pub(crate) struct ShutdownSignals([tokio::signal::unix::Signal; 3]);

impl ShutdownSignals {
    pub(crate) fn new() -> Option<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(ShutdownSignals([
            signal(SignalKind::interrupt()).ok()?,
            signal(SignalKind::terminate()).ok()?,
            signal(SignalKind::hangup()).ok()?,
        ]))
    }

    /// The next of the three to arrive.
    pub(crate) async fn next(&mut self) {
        let [int, term, hup] = &mut self.0;
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
}

/// Spawns the handler of shutdown signals for a run: the first SIGINT, SIGTERM or SIGHUP
/// (Ctrl-C, a cancelled CI job, `timeout`, a pod or Job being terminated) cancels the work and
/// hurries the cleanup; a second one abandons what cleanup is left (it is listed for
/// `kfcheck cleanup --run-id`).
pub(crate) fn stop_on_signals(
    cancel: tokio_util::sync::CancellationToken,
    janitor: crate::janitor::Janitor,
) {
    tokio::spawn(async move {
        let Some(mut signals) = ShutdownSignals::new() else {
            return;
        };
        signals.next().await;
        janitor.hurry();
        cancel.cancel();
        signals.next().await;
        janitor.abandon();
    });
}
