//! Process lifecycle: counting requests in flight, and shutting down on signals.
//!
//! Pingora's graceful terminate stops the listeners and then sleeps the whole grace period
//! before stopping its runtimes. Tollgate wants "finish what is in flight, then exit", so its
//! signal watch starts a drain watcher on SIGTERM: once no request is in flight (or the grace
//! period is over) it runs the exit hooks and exits, without waiting out the rest.
//!
//! SIGQUIT is Pingora's graceful upgrade: the listening sockets go to a new process started
//! with `--upgrade`, which waits for them on `server.upgrade_sock`. Pingora hands them over
//! even when nobody waits there (it retries for about five seconds, then shuts down anyway),
//! which would leave nobody serving; so the watch first checks that a new process is waiting
//! and otherwise keeps serving. It also writes `server.pid_file` once signals are handled, in
//! the foreground too (Pingora writes it only when it daemonizes), so `kill -QUIT $(cat
//! pid_file)` always reaches the running process; a new process replaces the file only once
//! it has the sockets, and the file stays locked against a second instance started by mistake.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
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

/// `server.pid_file` and `server.upgrade_sock`; whether this process takes the sockets over
/// from another (`--upgrade`) and whether Pingora daemonizes it (then Pingora writes the pid
/// file).
struct Paths {
    pid_file: PathBuf,
    upgrade_sock: PathBuf,
    upgrade: bool,
    daemon: bool,
}

static PATHS: OnceLock<Paths> = OnceLock::new();

/// The pid file, open and locked for as long as this process runs (as Pingora's daemon holds
/// its own), so that a second instance started on the same file by mistake cannot take it.
static PID_FILE: OnceLock<File> = OnceLock::new();

/// Tell the signal watch where the pid file and the hand-off socket are; once, before the
/// server runs. Without it, SIGQUIT is handed to Pingora unchecked and no pid file is written
/// in the foreground.
pub fn set_paths(pid_file: &str, upgrade_sock: &str, upgrade: bool, daemon: bool) {
    let _ = PATHS.set(Paths {
        pid_file: PathBuf::from(pid_file),
        upgrade_sock: PathBuf::from(upgrade_sock),
        upgrade,
        daemon,
    });
}

/// Write this process's id to the pid file (in the foreground; a daemon's is Pingora's).
fn write_pid_file() {
    let Some(paths) = PATHS.get() else { return };
    if paths.daemon || paths.pid_file.as_os_str().is_empty() {
        return;
    }
    match publish_pid(&paths.pid_file, paths.upgrade) {
        Ok(file) => {
            let _ = PID_FILE.set(file);
        }
        Err(e) => log::warn!(
            "pid file {}: {e}; it does not name this process",
            paths.pid_file.display()
        ),
    }
}

fn publish_pid(path: &Path, upgrade: bool) -> std::io::Result<File> {
    use std::io::Write;
    let pid = std::process::id();
    let locked = |file: &File| {
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => std::io::Error::other("held by another running process"),
            TryLockError::Error(e) => e,
        })
    };
    if upgrade {
        // The old process holds the lock on the current file: replace the file.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{pid}.tmp"));
        let replaced = File::create(&tmp).and_then(|mut file| {
            locked(&file)?;
            writeln!(file, "{pid}")?;
            std::fs::rename(&tmp, path)?;
            Ok(file)
        });
        if replaced.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        replaced
    } else {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        locked(&file)?;
        file.set_len(0)?;
        writeln!(file, "{pid}")?;
        Ok(file)
    }
}

/// Remove the pid file if it still names this process (after an upgrade it names the new one).
pub fn release_pid_file() {
    let Some(paths) = PATHS.get() else { return };
    let ours = std::fs::read_to_string(&paths.pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        let _ = std::fs::remove_file(&paths.pid_file);
    }
}

/// Whether a process listens on the Unix socket at `path` (from `/proc/net/unix`: a listening
/// socket has `__SO_ACCEPTCON`, 0x10000, in its flags). `None` when that cannot be read.
pub fn unix_socket_listening(path: &Path) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let suffix = format!(" {}", path.display());
    Some(table.lines().skip(1).any(|line| {
        line.ends_with(&suffix)
            && line
                .split_whitespace()
                .nth(3)
                .and_then(|flags| u32::from_str_radix(flags, 16).ok())
                .is_some_and(|flags| flags & 0x10000 != 0)
    }))
}

/// Longer than Pingora tries to reach the new process (five retries a second apart), so a
/// new process started just after the signal is still found, as Pingora itself allows.
const SUCCESSOR_WAIT: Duration = Duration::from_secs(6);

/// Wait (bounded) for a new process to listen on the hand-off socket; true when one does, or
/// when that cannot be told (no paths, no `/proc`): Pingora then proceeds as it would.
async fn successor_waiting() -> bool {
    let Some(paths) = PATHS.get() else {
        return true;
    };
    let deadline = Instant::now() + SUCCESSOR_WAIT;
    let mut told = false;
    loop {
        match unix_socket_listening(&paths.upgrade_sock) {
            None | Some(true) => return true,
            Some(false) if Instant::now() >= deadline => return false,
            Some(false) => {
                if !told {
                    log::info!(
                        "SIGQUIT: waiting up to {SUCCESSOR_WAIT:?} for a new process on {}",
                        paths.upgrade_sock.display()
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Unix signals: SIGTERM drains then exits, SIGINT stops at once, SIGQUIT hands the sockets
/// to a new process (Pingora's graceful upgrade) when one waits for them.
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
        // Published only now that SIGQUIT is handled: before, it would kill this process. For
        // a new process this is after it took the sockets over.
        write_pid_file();
        loop {
            tokio::select! {
                _ = term.recv() => return self.terminate(),
                _ = quit.recv() => {}
                _ = int.recv() => return fast(),
            }
            let waiting = tokio::select! {
                waiting = successor_waiting() => waiting,
                _ = term.recv() => return self.terminate(),
                _ = int.recv() => return fast(),
            };
            if !waiting {
                log::error!(
                    "SIGQUIT: no new process waits on {} (start `tollgate run --upgrade` with the same configuration first); still serving",
                    PATHS.get().map_or(String::new(), |p| p.upgrade_sock.display().to_string())
                );
                continue;
            }
            // Pingora hands the sockets over, keeps accepting beside the new process for 5 s,
            // then stops accepting and waits out the grace period: exiting early here could
            // cut that hand-off short. Answers from now on close their connections, so clients
            // reconnect (to the new process once this one stops accepting).
            log::info!(
                "SIGQUIT: handing the listening sockets to the new process; in-flight requests have {:?} after this process stops accepting",
                self.grace
            );
            DRAINING.store(true, Ordering::SeqCst);
            return ShutdownSignal::GracefulUpgrade;
        }
    }
}

impl Signals {
    fn terminate(&self) -> ShutdownSignal {
        log::info!(
            "SIGTERM: no longer accepting; draining {} request(s) for up to {:?}",
            in_flight(),
            self.grace
        );
        start_drain(self.grace);
        ShutdownSignal::GracefulTerminate
    }
}

fn fast() -> ShutdownSignal {
    log::info!("SIGINT: stopping now");
    ShutdownSignal::FastShutdown
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
            crate::audit::flush(Duration::from_secs(5));
            release_pid_file();
            log::logger().flush();
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the drain watcher ({e}); Pingora's grace period applies");
    }
}
