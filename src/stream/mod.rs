//! `veille stream`: classifies a live feed from stdin, one output record per input line.
//!
//! Four stages joined by bounded channels, so that a slow consumer slows the reader
//! instead of growing memory:
//!
//! ```text
//! stdin -> reader task -> batcher task -> model thread -> writer task -> stdout
//!          (lines, ids)   (--max-batch,   (Pipeline,     (one flush per batch)
//!                          --max-wait-ms)  not Sync)
//! ```
//!
//! * The models load before anything is read: a missing or broken model fails at start
//!   (exit 2) without consuming the feed.
//! * Each line is its own document (language detection sees only that paragraph),
//!   except that consecutive JSON records with the same `doc` field that land in the
//!   same micro-batch are detected together, as `classify` does for whole files, and
//!   that the language of the last `--doc-memory` documents is remembered across
//!   micro-batches as the prior for their later short lines.
//! * Order: there is one model thread, so batches finish in the order they were formed
//!   and output is always in input order for the records the model sees. `--unordered`
//!   only lets records that fail before the model (broken JSON, empty text, ...) skip the
//!   queue and be written at once, ahead of the batch in flight.
//! * Shutdown: EOF flushes everything. SIGINT/SIGTERM stop the reading; every line already
//!   read is still classified and written, then veille exits (a second signal exits at
//!   once). A closed stdout (`| head -n 5`) ends the stream quietly.
//! * Exit status: 0, or 1 if any error record was written; 2 for a configuration error.

mod batcher;
mod reader;
mod worker;
mod writer;

use crate::ingest::IngestOptions;
use crate::pipeline::Pipeline;
use anyhow::{bail, Context, Result};
use tokio::sync::{mpsc, watch};

/// The `name` of stdin in ids (`stdin#<line>`), `doc` fields and error messages.
pub const STDIN_NAME: &str = "stdin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamInput {
    /// One JSON object per line with at least `"text"` (`id`, `doc` and other fields are kept).
    Jsonl,
    /// One paragraph per line; ids are `stdin#<line number>`.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamFormat {
    /// One JSON record per line (the `classify` schema).
    Jsonl,
    /// The `classify` CSV columns, with a header line first.
    Csv,
}

/// What `veille stream` needs besides the pipeline (the command layer fills it from the flags).
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub input: StreamInput,
    pub format: StreamFormat,
    /// Send a micro-batch to the model once it holds this many records (at least 1) ...
    pub max_batch: usize,
    /// ... or once its first record has waited this long.
    pub max_wait: std::time::Duration,
    /// Write records that fail before the model at once, ahead of the batch in flight.
    pub unordered: bool,
    /// Paragraphs longer than this many characters become error records (at least 1).
    pub max_chars: usize,
}

/// Documents whose language `stream` remembers by default (a few KiB).
pub const DEFAULT_DOC_MEMORY: usize = 4096;

/// Channel capacities, in messages. Small on purpose: together with the pipe buffers they
/// bound what veille holds while the consumer is slow (see docs/stream.md).
const READ_QUEUE: usize = 64;
const BATCH_QUEUE: usize = 1;
const WRITE_QUEUE: usize = 2;

/// What the writer saw: for the exit status and the closing message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub records: usize,
    pub errors: usize,
    /// stdout was closed by the reader (EPIPE); the stream ended early and quietly.
    pub closed: bool,
}

/// Classifies stdin to stdout with `pipeline` until EOF, a signal or a closed stdout.
pub fn run(opts: &StreamOptions, pipeline: Pipeline) -> Result<Outcome> {
    if opts.max_batch == 0 || opts.max_chars == 0 {
        bail!("the batch size and the maximum paragraph length must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("veille-stream")
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let outcome = runtime.block_on(stream(opts, pipeline));
    // The reader may still be blocked in a read of stdin (closed stdout, signal): do not
    // wait for it; the process exits right after this.
    runtime.shutdown_background();
    outcome
}

async fn stream(args: &StreamOptions, pipeline: Pipeline) -> Result<Outcome> {
    let (stop_tx, stop_rx) = watch::channel(false);
    spawn_signal_handler(stop_tx.clone())?;

    let (line_tx, line_rx) = mpsc::channel(READ_QUEUE);
    let (batch_tx, batch_rx) = mpsc::channel(BATCH_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(WRITE_QUEUE);

    let opts = IngestOptions {
        format: crate::ingest::InputFormat::Lines,
        max_chars: args.max_chars,
    };
    let reader =
        reader::LineReader::new(tokio::io::stdin(), reader::max_line_bytes(args.max_chars));
    tokio::spawn(reader::run(reader, args.input, opts, line_tx, stop_rx));

    let bypass = args.unordered.then(|| batcher::Bypass {
        out: out_tx.clone(),
        strategy: pipeline.strategy().as_str().to_string(),
        model: pipeline.model_id(),
    });
    let config = batcher::Config {
        max_batch: args.max_batch,
        max_wait: args.max_wait,
    };
    tokio::spawn(batcher::run(line_rx, batch_tx, bypass, config));
    let model = worker::spawn(pipeline, batch_rx, out_tx)?;

    let format = match args.format {
        StreamFormat::Jsonl => crate::sinks::OutputFormat::Jsonl,
        StreamFormat::Csv => crate::sinks::OutputFormat::Csv,
    };
    let outcome = writer::run(out_rx, format, tokio::io::stdout(), writer::stdout_closed).await;
    // Whatever ended the writer, stop reading.
    let _ = stop_tx.send(true);
    // Wait for the model thread (at most the batch in flight once the writer is gone):
    // exiting under a running forward pass tears libtorch down beneath it.
    let joined = tokio::task::spawn_blocking(move || model.join()).await;
    let outcome = outcome?;
    if !outcome.closed && !matches!(joined, Ok(Ok(()))) {
        bail!("the model thread panicked; output is incomplete");
    }
    Ok(outcome)
}

/// First SIGINT/SIGTERM: stop reading, finish and flush what was read. Second: exit now.
fn spawn_signal_handler(stop: watch::Sender<bool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let code = tokio::select! {
                _ = term.recv() => 128 + 15,
                _ = int.recv() => 128 + 2,
            };
            seen += 1;
            if seen > 1 {
                // Right away, without running exit handlers under a forward pass.
                // SAFETY: _exit only ends the process.
                unsafe { libc::_exit(code) };
            }
            tracing::info!("signal received: finishing the records already read");
            let _ = stop.send(true);
        }
    });
    Ok(())
}
