//! Process lifecycle: counting requests in flight, and shutting down on signals.
//!
//! Pingora's graceful terminate stops the listeners and then sleeps the whole grace period
//! before stopping its runtimes. Tollgate wants "finish what is in flight, then exit", so its
//! signal watch starts a drain watcher on SIGTERM: once no request is in flight (or the grace
//! period is over) it runs the exit hooks and exits, without waiting out the rest.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Held by every request context; the request counts as in flight until it drops.
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// True once a graceful shutdown started: answers then close their connections.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Unix signals: SIGTERM drains then exits, SIGINT stops at once, SIGQUIT hands the sockets
/// to a new process (Pingora's graceful upgrade).
pub struct Signals {
    pub grace: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            log::error!("cannot install signal handlers; stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {
                log::info!("SIGTERM: no longer accepting; draining {} request(s) for up to {:?}", in_flight(), self.grace);
                start_drain(self.grace);
                ShutdownSignal::GracefulTerminate
            }
            _ = quit.recv() => {
                // Pingora hands the sockets over and then waits out the grace period; exiting
                // early here could cut that hand-off short.
                log::info!("SIGQUIT: handing listening sockets to the new process");
                DRAINING.store(true, Ordering::SeqCst);
                ShutdownSignal::GracefulUpgrade
            }
            _ = int.recv() => {
                log::info!("SIGINT: stopping now");
                ShutdownSignal::FastShutdown
            }
        }
    }
}

fn start_drain(grace: Duration) {
    DRAINING.store(true, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("tollgate-drain".into())
        .spawn(move || {
            let deadline = Instant::now() + grace;
            // A moment for the listeners to close before the count is trusted: a request accepted
            // just before the signal has entered by then.
            std::thread::sleep(Duration::from_millis(100));
            while in_flight() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let left = in_flight();
            if left > 0 {
                log::warn!("grace period over with {left} request(s) still in flight");
            } else {
                log::info!("drained; exiting");
            }
            log::logger().flush();
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the drain watcher ({e}); Pingora's grace period applies");
    }
}
