//! Shutdown that loses no reply: a count of what is in flight that can be waited on,
//! and the drain state the tools and the HTTP guards read.
//!
//! On SIGTERM the HTTP server [`Drain::start`]s: new sessions are refused (503) and new
//! tool calls answered with an error at once; calls already running get
//! `shutdown_grace` to finish; then [`Drain::abort_calls`] makes each one still
//! running answer a JSON-RPC error instead of vanishing with its session.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A count of things in flight; [`InFlight::wait_zero`] resolves when none is.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    zero: Notify,
}

/// Held while one thing is in flight; dropping it counts it out.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

impl InFlight {
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub(crate) async fn wait_zero(&self) {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The drain state shared by the tools and the HTTP server.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    /// Tool calls running now.
    pub(crate) calls: Arc<InFlight>,
    /// Fired when the grace is over: running calls answer an error.
    abort: CancellationToken,
}

impl Drain {
    pub(crate) fn start(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Counts a tool call in, unless the server is draining (then `None`: refuse it).
    pub(crate) fn calls_guard(&self) -> Option<InFlightGuard> {
        (!self.is_draining()).then(|| self.calls.enter())
    }

    pub(crate) fn abort_calls(&self) {
        self.abort.cancel();
    }

    pub(crate) fn aborted(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.abort.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_zero_waits_for_the_last_guard() {
        let f = Arc::new(InFlight::default());
        f.wait_zero().await;
        let a = f.enter();
        let b = f.enter();
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.wait_zero().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.unwrap();
        assert_eq!(f.count(), 0);
    }
}
