//! Label Studio sink: one JSON array of tasks with pre-annotations ("predictions") that Label
//! Studio imports as is, for a labelling config such as
//!
//! ```xml
//! <View>
//!   <Text name="text" value="$text"/>
//!   <Choices name="label" toName="text" choice="multiple">
//!     <Choice value="espionage"/><Choice value="influence-operation"/>
//!     <Choice value="corporate-denial"/><Choice value="regulation"/>
//!   </Choices>
//! </View>
//! ```
//!
//! Each task is `{"data": {"id", "text", "lang", ...}, "predictions": [{"model_version",
//! "score", "result": [{"from_name": "label", "to_name": "text", "type": "choices", "value":
//! {"choices": [..]}, "score"}]}]}`. The result's `score` is the lowest probability among its
//! chosen labels; the prediction's overall `score` is the mean, over the four labels, of the
//! probability of the decision taken (p for a chosen label, 1 - p otherwise). A record with no
//! label gets a prediction with an empty result; an error record gets no prediction and
//! carries its error in `data.error`. `veille compare` reads these files back.

use super::Sink;
use crate::labels::Label;
use crate::record::Record;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::io::{BufWriter, Write};

/// The control and object tag names the predictions refer to.
pub const FROM_NAME: &str = "label";
pub const TO_NAME: &str = "text";

pub struct LabelStudioSink<W: Write> {
    out: BufWriter<W>,
    written: usize,
    finished: bool,
}

impl<W: Write> LabelStudioSink<W> {
    pub fn new(out: W) -> Self {
        LabelStudioSink {
            out: BufWriter::new(out),
            written: 0,
            finished: false,
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// The model version Label Studio shows: the model, with the strategy when there is one.
pub fn model_version(r: &Record) -> String {
    match (r.model.is_empty(), r.strategy.is_empty()) {
        (true, true) => "veille".to_string(),
        (false, true) => r.model.clone(),
        (true, false) => r.strategy.clone(),
        (false, false) => format!("{} ({})", r.model, r.strategy),
    }
}

/// The Label Studio task for one record.
pub fn task(r: &Record) -> Value {
    let mut data = Map::new();
    data.insert("id".into(), json!(r.id));
    data.insert("text".into(), json!(r.text));
    data.insert("lang".into(), json!(r.lang));
    data.insert("doc".into(), json!(r.doc));
    data.insert("para".into(), json!(r.para));
    if let Some(t) = &r.translation {
        data.insert("translation".into(), json!(t));
    }
    if let Some(e) = &r.error {
        data.insert("error".into(), json!(e));
        return json!({ "data": Value::Object(data), "predictions": [] });
    }
    let p = |l: &Label| r.scores.get(l).map(|&s| s as f64);
    let chosen: Vec<&str> = r.labels.iter().map(|l| l.as_str()).collect();
    let overall = if r.scores.is_empty() {
        None
    } else {
        let sum: f64 = Label::ALL
            .iter()
            .map(|l| {
                let s = p(l).unwrap_or(0.0);
                if r.labels.contains(l) {
                    s
                } else {
                    1.0 - s
                }
            })
            .sum();
        Some(round4(sum / Label::ALL.len() as f64))
    };
    let mut result = Vec::new();
    if !chosen.is_empty() {
        let mut item = json!({
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "choices",
            "value": { "choices": chosen },
        });
        let min = r
            .labels
            .iter()
            .filter_map(p)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))));
        if let Some(s) = min {
            item["score"] = json!(round4(s));
        }
        result.push(item);
    }
    let mut prediction = json!({ "model_version": model_version(r), "result": result });
    if let Some(s) = overall {
        prediction["score"] = json!(s);
    }
    json!({ "data": Value::Object(data), "predictions": [prediction] })
}

impl<W: Write> Sink for LabelStudioSink<W> {
    fn write(&mut self, r: &Record) -> Result<()> {
        self.out
            .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
        serde_json::to_writer(&mut self.out, &task(r))?;
        self.written += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if !self.finished {
            self.out
                .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
            self.finished = true;
        }
        self.flush()
    }
}
