//! The writer task: records through the `classify` sinks into an in-memory buffer, then
//! to stdout, flushed once per batch. A closed stdout (EPIPE) ends the stream quietly.

use super::Outcome;
use crate::record::Record;
use crate::sinks::{open_sink, OutputFormat};
use anyhow::{Context, Result};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// A `Write` the sink formats into; the writer task drains it after each batch.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("buffer lock"))
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// How often an idle writer checks whether stdout was closed.
const CLOSED_POLL: Duration = Duration::from_millis(200);

/// Whether stdout is a pipe whose reading end is gone (`| head -n 5` has exited): then
/// `poll` reports an error on it. Lets an idle stream end without waiting for output.
pub fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

async fn closed_while_idle(probe: fn() -> bool) {
    loop {
        tokio::time::sleep(CLOSED_POLL).await;
        if probe() {
            return;
        }
    }
}

/// Writes every batch as it arrives until all senders are gone or `out` is closed
/// (a write fails with EPIPE, or `probe` says so while waiting for records).
pub async fn run<W: AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<Vec<Record>>,
    format: OutputFormat,
    mut out: W,
    probe: fn() -> bool,
) -> Result<Outcome> {
    let buf = SharedBuf::default();
    let mut sink = open_sink(format, Box::new(buf.clone()));
    let mut outcome = Outcome::default();
    let mut finished = false;
    loop {
        let batch = tokio::select! {
            batch = rx.recv() => batch,
            _ = closed_while_idle(probe) => {
                tracing::debug!("stdout closed: ending the stream");
                return Ok(Outcome { closed: true, ..outcome });
            }
        };
        match &batch {
            Some(records) => {
                for r in records {
                    outcome.records += 1;
                    outcome.errors += r.is_error() as usize;
                    sink.write(r)?;
                }
                sink.flush()?;
            }
            None => {
                sink.finish()?;
                finished = true;
            }
        }
        let bytes = buf.take();
        let written = async {
            out.write_all(&bytes).await?;
            out.flush().await
        };
        match written.await {
            Ok(()) => {}
            Err(e) if is_closed(&e) => {
                tracing::debug!("stdout closed: ending the stream");
                outcome.closed = true;
                return Ok(outcome);
            }
            Err(e) => return Err(e).context("cannot write to stdout"),
        }
        if finished {
            return Ok(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Input;

    fn record(id: &str, error: bool) -> Record {
        let input = Input {
            id: id.into(),
            doc: "stdin".into(),
            para: 1,
            text: "x".into(),
            meta: None,
            error: error.then(|| "bad".to_string()),
        };
        crate::pipeline::base_record(&input, "embed", "m")
    }

    fn never() -> bool {
        false
    }

    fn always() -> bool {
        true
    }

    #[tokio::test]
    async fn idle_writer_notices_a_closed_output() {
        let (tx, rx) = mpsc::channel::<Vec<Record>>(4);
        // No record ever comes; only the probe can end this.
        let outcome = run(rx, OutputFormat::Jsonl, Vec::new(), always)
            .await
            .unwrap();
        assert!(outcome.closed);
        drop(tx);
    }

    #[tokio::test]
    async fn writes_in_arrival_order_and_counts_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(vec![record("a", false), record("b", true)])
            .await
            .unwrap();
        tx.send(vec![record("c", false)]).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        let outcome = run(rx, OutputFormat::Jsonl, &mut out, never).await.unwrap();
        assert_eq!(
            outcome,
            Outcome {
                records: 3,
                errors: 1,
                closed: false
            }
        );
        let ids: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Record>(l).unwrap().id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn csv_has_one_header() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(vec![record("a", false)]).await.unwrap();
        tx.send(vec![record("b", false)]).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        run(rx, OutputFormat::Csv, &mut out, never).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.starts_with("id,doc,para"));
    }

    /// A writer whose reader has gone: every write fails with EPIPE.
    struct Closed;

    impl AsyncWrite for Closed {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn closed_output_ends_quietly() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(vec![record("a", false)]).await.unwrap();
        let outcome = run(rx, OutputFormat::Jsonl, Closed, never).await.unwrap();
        assert!(outcome.closed);
        // The channel is dropped with the writer: senders see it and stop.
        assert!(tx.send(vec![record("b", false)]).await.is_err());
    }
}
