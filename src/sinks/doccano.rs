//! doccano sink: JSON Lines for doccano's text-classification import, `{"text", "label":
//! [..]}` plus veille's `id`, `lang` and per-label `scores` (doccano keeps the extra keys as
//! metadata). An error record keeps its `error` and has no labels. `veille compare` reads
//! these files back.

use super::Sink;
use crate::record::Record;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::io::{BufWriter, Write};

pub struct DoccanoSink<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> DoccanoSink<W> {
    pub fn new(out: W) -> Self {
        DoccanoSink {
            out: BufWriter::new(out),
        }
    }
}

/// The doccano line for one record.
pub fn line(r: &Record) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("text".into(), json!(r.text));
    m.insert(
        "label".into(),
        json!(r.labels.iter().map(|l| l.as_str()).collect::<Vec<_>>()),
    );
    m.insert("lang".into(), json!(r.lang));
    if !r.scores.is_empty() {
        let scores: Map<String, Value> = r
            .scores
            .iter()
            .map(|(l, s)| {
                (
                    l.as_str().to_string(),
                    json!(((*s as f64) * 1e4).round() / 1e4),
                )
            })
            .collect();
        m.insert("scores".into(), Value::Object(scores));
    }
    if !r.model.is_empty() {
        m.insert("model".into(), json!(r.model));
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), json!(e));
    }
    Value::Object(m)
}

impl<W: Write> Sink for DoccanoSink<W> {
    fn write(&mut self, r: &Record) -> Result<()> {
        serde_json::to_writer(&mut self.out, &line(r))?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
