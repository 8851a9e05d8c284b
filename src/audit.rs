//! The audit log: one JSON object per line per request, written by one writer thread fed
//! through a bounded channel. The request path only tries to send: it never waits on the
//! disk, and a record that finds the channel full is dropped and counted in
//! `tollgate_audit_dropped_total` (sized so that it does not happen at load-test rates).
//!
//! The writer wakes on a timer (`BATCH_EVERY`), writes every record queued since, and
//! flushes: a record reaches the file within about that time. Sending a record never wakes
//! the writer, because a wake-up per request (a futex call and a context switch on a busy
//! core) cost more CPU than writing the record, measured in `load-tests/RESULTS.md`. Only
//! `flush` (graceful shutdown) and `reopen` (SIGHUP, for log rotation) wake it at once.
//! `-` writes to standard output.

use crate::metrics::METRICS;
use once_cell::sync::OnceCell;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::Thread;
use std::time::Duration;

/// One request, as the interface doc lists its fields.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Record {
    pub ts: String,
    pub request_id: String,
    pub key: Option<String>,
    pub team: Option<String>,
    pub route: &'static str,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    /// The HTTP status the client received (0: none was sent).
    pub status: u16,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `provider`, `estimate`, `mixed` (input and output from different sources), or null.
    pub token_source: Option<&'static str>,
    pub cost_usd: f64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub overhead_ms: f64,
    /// `hit`, `miss`, `bypass`, or null without a cache.
    pub cache: Option<&'static str>,
    /// Entity to count, both directions (never a value).
    pub redactions: BTreeMap<String, u32>,
    /// `prompt_injection:blocked` or `prompt_injection:flagged`.
    pub guardrail: Option<String>,
    /// The error code the client received, or that ended its stream.
    pub error: Option<&'static str>,
    /// `client_gone` when the client left before its answer was complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// With `audit.include_bodies`: the request as forwarded (after redaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// With `audit.include_bodies`: a whole answer as the client received it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

enum Message {
    Record(Box<Record>),
    /// Flush, then acknowledge.
    Flush(SyncSender<()>),
    /// Flush, then write to this path from now on.
    Reopen(PathBuf),
}

/// The handle the request path sends through.
pub struct Audit {
    tx: SyncSender<Message>,
    /// The writer thread, unparked for control messages only.
    writer: Thread,
}

static AUDIT: OnceCell<Audit> = OnceCell::new();

/// How often the writer drains the channel and flushes. The channel must hold this long's
/// worth of records: at the default 65,536 that is over three million requests a second.
const BATCH_EVERY: Duration = Duration::from_millis(20);

/// Start the writer for `path` with room for `capacity` records in flight. Once per process;
/// later calls (a reload naming another path) reopen instead.
pub fn start(path: &str, capacity: usize) -> Result<(), String> {
    if AUDIT.get().is_some() {
        reopen(path);
        return Ok(());
    }
    let sink = Sink::open(path)?;
    let (tx, rx) = sync_channel(capacity.max(1));
    let handle = std::thread::Builder::new()
        .name("tollgate-audit".into())
        .spawn(move || write_loop(rx, sink))
        .map_err(|e| format!("audit writer: {e}"))?;
    let _ = AUDIT.set(Audit {
        tx,
        writer: handle.thread().clone(),
    });
    Ok(())
}

/// Whether an audit log is being written.
pub fn enabled() -> bool {
    AUDIT.get().is_some()
}

/// Hand a record to the writer without waiting; dropped (and counted) when the channel is full.
pub fn record(r: Record) {
    let Some(a) = AUDIT.get() else {
        return;
    };
    match a.tx.try_send(Message::Record(Box::new(r))) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            METRICS.audit_dropped_total.inc();
        }
    }
}

/// Write out everything sent so far (graceful shutdown); waits up to `limit`.
pub fn flush(limit: Duration) {
    let Some(a) = AUDIT.get() else {
        return;
    };
    let (ack_tx, ack_rx) = sync_channel(1);
    if a.tx.send(Message::Flush(ack_tx)).is_ok() {
        a.writer.unpark();
        let _ = ack_rx.recv_timeout(limit);
    }
}

/// Flush and reopen the file (SIGHUP, for log rotation), at `path`.
pub fn reopen(path: &str) {
    if let Some(a) = AUDIT.get() {
        let _ = a.tx.send(Message::Reopen(PathBuf::from(path)));
        a.writer.unpark();
    }
}

enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn open(path: &str) -> Result<Sink, String> {
        if path == "-" {
            return Ok(Sink::Stdout(std::io::BufWriter::new(std::io::stdout())));
        }
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("audit log {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("audit log {}: {e}", path.display()))?;
        Ok(Sink::File(std::io::BufWriter::with_capacity(
            64 * 1024,
            file,
        )))
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::File(w) => w,
        }
    }
}

fn write_loop(rx: Receiver<Message>, mut sink: Sink) {
    let mut line = Vec::with_capacity(1024);
    loop {
        let mut dirty = false;
        loop {
            match rx.try_recv() {
                Ok(Message::Record(r)) => {
                    write_record(&mut sink, &r, &mut line);
                    dirty = true;
                }
                Ok(Message::Flush(ack)) => {
                    flush_sink(&mut sink);
                    dirty = false;
                    let _ = ack.send(());
                }
                Ok(Message::Reopen(path)) => {
                    flush_sink(&mut sink);
                    dirty = false;
                    match Sink::open(&path.to_string_lossy()) {
                        Ok(s) => sink = s,
                        Err(e) => log::error!("{e}; still writing to the previous file"),
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    flush_sink(&mut sink);
                    return;
                }
            }
        }
        if dirty {
            flush_sink(&mut sink);
        }
        std::thread::park_timeout(BATCH_EVERY);
    }
}

/// One record as one line, serialised into `line` first (reused, keeping up to `LINE_KEPT`
/// of capacity: a record with bodies can be large) and handed to the sink in one write. A
/// record that fails to serialise writes nothing, and `serde_json`'s many small writes go to
/// a `Vec` instead of through the sink's `dyn Write` (half of the writer's work per record).
fn write_record(sink: &mut Sink, r: &Record, line: &mut Vec<u8>) {
    line.clear();
    let written = serde_json::to_writer(&mut *line, r)
        .map_err(std::io::Error::other)
        .and_then(|()| {
            line.push(b'\n');
            sink.writer().write_all(line)
        });
    if let Err(e) = written {
        log::error!("audit log: cannot write a record: {e}");
    }
    if line.capacity() > LINE_KEPT {
        *line = Vec::with_capacity(1024);
    }
}

/// The most capacity the writer's line buffer keeps between records.
const LINE_KEPT: usize = 64 * 1024;

fn flush_sink(sink: &mut Sink) {
    if let Err(e) = sink.writer().flush() {
        log::error!("audit log: cannot flush: {e}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_serialise_with_every_field_of_the_interface() {
        let r = Record {
            ts: "2026-11-22T08:30:00.000Z".into(),
            request_id: "tg-1".into(),
            route: "chat_completions",
            redactions: [("email".to_string(), 2)].into(),
            ..Record::default()
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for field in [
            "ts",
            "request_id",
            "key",
            "team",
            "route",
            "model",
            "provider",
            "upstream_model",
            "stream",
            "status",
            "attempts",
            "input_tokens",
            "output_tokens",
            "token_source",
            "cost_usd",
            "latency_ms",
            "ttft_ms",
            "overhead_ms",
            "cache",
            "redactions",
            "guardrail",
            "error",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {v}");
        }
        assert_eq!(v["redactions"]["email"], 2);
        assert!(v.get("request_body").is_none());
    }

    #[test]
    fn a_large_record_is_written_whole_and_its_buffer_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = Sink::open(path.to_str().unwrap()).unwrap();
        let mut line = Vec::new();
        let big = Record {
            request_id: "tg-big".into(),
            request_body: Some("x".repeat(3 * LINE_KEPT)),
            ..Record::default()
        };
        write_record(&mut sink, &big, &mut line);
        assert!(line.capacity() <= LINE_KEPT, "{}", line.capacity());
        let small = Record {
            request_id: "tg-small".into(),
            ..Record::default()
        };
        write_record(&mut sink, &small, &mut line);
        flush_sink(&mut sink);
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 2, "{}", text.len());
        assert_eq!(
            records[0]["request_body"].as_str().unwrap().len(),
            3 * LINE_KEPT
        );
        assert_eq!(records[1]["request_id"], "tg-small");
    }
}
