//! The micro-batcher: inputs in, documents out, flushed when a batch holds `max_batch`
//! records or when its first record has waited `max_wait`, and at the end of input.
//!
//! Documents: each input is its own document, except that consecutive inputs sharing a
//! JSON `doc` field within one batch form one document (language detection then uses
//! the whole group as context, as `classify` does). Groups never span batches, so a
//! record's output never waits for a later record.

use super::STDIN_NAME;
use crate::ingest::{Document, Input};
use crate::pipeline::base_record;
use crate::record::Record;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// tokio's timer rounds a sleep up to its next 1 ms tick; the deadline is set this much
/// earlier so that `--max-wait-ms` is a true maximum (a batch may go out up to 1 ms early,
/// never late).
const TIMER_TICK: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub max_batch: usize,
    pub max_wait: Duration,
}

/// `--unordered`: records that failed before the model go straight to the writer.
pub struct Bypass {
    pub out: mpsc::Sender<Vec<Record>>,
    pub strategy: String,
    pub model: String,
}

/// Consecutive inputs with the same (explicit) `doc` become one document.
pub fn group(inputs: Vec<Input>) -> Vec<Document> {
    let mut docs: Vec<Document> = Vec::new();
    for input in inputs {
        match docs.last_mut() {
            Some(d) if d.name == input.doc && d.name != STDIN_NAME => d.inputs.push(input),
            _ => docs.push(Document {
                name: input.doc.clone(),
                inputs: vec![input],
            }),
        }
    }
    docs
}

enum Event {
    Input(Input),
    Deadline,
    Closed,
}

pub async fn run(
    mut rx: mpsc::Receiver<Input>,
    tx: mpsc::Sender<Vec<Document>>,
    bypass: Option<Bypass>,
    config: Config,
) {
    let mut pending: Vec<Input> = Vec::with_capacity(config.max_batch);
    let mut deadline: Option<Instant> = None;
    loop {
        let event = match deadline {
            Some(at) => tokio::select! {
                biased;
                input = rx.recv() => input.map_or(Event::Closed, Event::Input),
                _ = sleep_until(at) => Event::Deadline,
            },
            None => rx.recv().await.map_or(Event::Closed, Event::Input),
        };
        let flush = match event {
            Event::Input(input) => {
                if let (Some(b), Some(_)) = (&bypass, &input.error) {
                    let record = base_record(&input, &b.strategy, &b.model);
                    if b.out.send(vec![record]).await.is_err() {
                        return;
                    }
                    continue;
                }
                tracing::debug!(
                    "{STDIN_NAME} line {} queued ({} in batch)",
                    input.para,
                    pending.len() + 1
                );
                if pending.is_empty() {
                    deadline = Some(Instant::now() + config.max_wait.saturating_sub(TIMER_TICK));
                }
                pending.push(input);
                pending.len() >= config.max_batch
            }
            Event::Deadline => true,
            Event::Closed => {
                if !pending.is_empty() {
                    let _ = tx.send(group(std::mem::take(&mut pending))).await;
                }
                return;
            }
        };
        if flush {
            deadline = None;
            let batch = std::mem::replace(&mut pending, Vec::with_capacity(config.max_batch));
            tracing::debug!("batch of {} records", batch.len());
            if tx.send(group(batch)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(no: usize, doc: &str, error: bool) -> Input {
        Input {
            id: format!("stdin#{no}"),
            doc: doc.into(),
            para: no,
            text: "t".into(),
            meta: None,
            error: error.then(|| "bad".to_string()),
        }
    }

    #[test]
    fn groups_only_consecutive_explicit_docs() {
        let docs = group(vec![
            input(1, "a", false),
            input(2, "a", false),
            input(3, STDIN_NAME, false),
            input(4, STDIN_NAME, false),
            input(5, "a", false),
        ]);
        let sizes: Vec<(String, usize)> = docs
            .iter()
            .map(|d| (d.name.clone(), d.inputs.len()))
            .collect();
        let want = [("a", 2), (STDIN_NAME, 1), (STDIN_NAME, 1), ("a", 1)];
        assert_eq!(sizes, want.map(|(n, k)| (n.to_string(), k)));
    }

    fn paras(batch: &[Document]) -> Vec<usize> {
        batch
            .iter()
            .flat_map(|d| d.inputs.iter().map(|i| i.para))
            .collect()
    }

    #[tokio::test]
    async fn flushes_by_size_then_by_time_then_at_eof() {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (tx, mut rx) = mpsc::channel(16);
        // A wait far beyond the test: only size and EOF can flush.
        let config = Config {
            max_batch: 2,
            max_wait: Duration::from_secs(3600),
        };
        tokio::spawn(run(in_rx, tx, None, config));
        for no in 1..=3 {
            in_tx.send(input(no, STDIN_NAME, false)).await.unwrap();
        }
        assert_eq!(paras(&rx.recv().await.unwrap()), vec![1, 2]);
        drop(in_tx);
        assert_eq!(paras(&rx.recv().await.unwrap()), vec![3]);
        assert!(rx.recv().await.is_none());

        // Now a huge batch size: only the wait can flush while the input stays open.
        let (in_tx, in_rx) = mpsc::channel(16);
        let (tx, mut rx) = mpsc::channel(16);
        let config = Config {
            max_batch: 1000,
            max_wait: Duration::from_millis(5),
        };
        tokio::spawn(run(in_rx, tx, None, config));
        in_tx.send(input(7, STDIN_NAME, false)).await.unwrap();
        assert_eq!(paras(&rx.recv().await.unwrap()), vec![7]);
        drop(in_tx);
    }

    #[tokio::test]
    async fn unordered_sends_failed_inputs_straight_to_the_writer() {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (tx, mut rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let bypass = Bypass {
            out: out_tx,
            strategy: "embed".into(),
            model: "m".into(),
        };
        let config = Config {
            max_batch: 10,
            max_wait: Duration::from_secs(3600),
        };
        tokio::spawn(run(in_rx, tx, Some(bypass), config));
        in_tx.send(input(1, STDIN_NAME, false)).await.unwrap();
        in_tx.send(input(2, STDIN_NAME, true)).await.unwrap();
        // The error record is out while record 1 still waits for its batch.
        let out = out_rx.recv().await.unwrap();
        assert_eq!(
            (out[0].id.as_str(), out[0].error.as_deref()),
            ("stdin#2", Some("bad"))
        );
        drop(in_tx);
        assert_eq!(paras(&rx.recv().await.unwrap()), vec![1]);
    }
}
