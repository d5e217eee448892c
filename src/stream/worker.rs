//! The model thread: the [`Pipeline`] holds tch tensors (not `Sync`), so it lives on one
//! dedicated OS thread and takes batches one at a time, in the order they were formed.

use crate::ingest::Document;
use crate::pipeline::Pipeline;
use crate::record::Record;
use anyhow::{Context, Result};
use tokio::sync::mpsc;

/// Starts the model thread. It ends when the batches run out (EOF, signal) or when the
/// writer has gone (closed stdout).
pub fn spawn(
    mut pipeline: Pipeline,
    mut batches: mpsc::Receiver<Vec<Document>>,
    out: mpsc::Sender<Vec<Record>>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("veille-model".into())
        .spawn(move || {
            while let Some(docs) = batches.blocking_recv() {
                if out.is_closed() {
                    break; // stdout was closed: nobody will read these
                }
                let records = pipeline.process(&docs);
                if out.blocking_send(records).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the model thread")
}
