//! Label Studio sink: one JSON array of tasks with pre-annotations ("predictions") that Label
//! Studio imports as is. The labelling config must name its tags as the predictions do
//! (`Choices name="label" toName="text"`, and `Labels name="evidence"` for evidence spans):
//! Label Studio imports predictions for other names without complaint and never shows them.
//! The configs are in `docs/label-studio.md`; the one for labels only is
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
//! Each task is `{"data": {"id", "text", "lang", "lang_confidence", "doc", "para", <meta
//! fields>}, "predictions": [{"model_version", "score", "result": [{"from_name": "label",
//! "to_name": "text", "type": "choices", "value": {"choices": [..]}, "score"}, <evidence
//! spans>]}]}`. The input's `meta` fields become `data` fields (annotators filter on them); one
//! that would shadow a field of veille's own is written as `meta_<name>`. With `--evidence`,
//! each label's evidence sentence is a `labels` span (`from_name` "evidence", `value`: start,
//! end, text, labels) that Label Studio highlights. The result's `score` is the lowest
//! probability among its chosen labels; the prediction's overall `score` is the mean, over the
//! four labels, of the probability of the decision taken (p for a chosen label, 1 - p
//! otherwise). A record with no label gets a prediction with an empty result; an error record
//! gets no prediction and carries its error in `data.error`. `veille compare` reads these
//! files back.

use super::Sink;
use crate::labels::Label;
use crate::record::Record;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::io::{BufWriter, Write};

/// The control and object tag names the predictions refer to.
pub const FROM_NAME: &str = "label";
pub const TO_NAME: &str = "text";
/// The `Labels` tag the evidence spans refer to.
pub const EVIDENCE_FROM_NAME: &str = "evidence";

/// `data` fields veille writes itself; a `meta` field of the same name gets a `meta_` prefix.
const OWN_FIELDS: [&str; 8] = [
    "id",
    "text",
    "lang",
    "lang_confidence",
    "doc",
    "para",
    "translation",
    "error",
];

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
    data.insert("lang_confidence".into(), json!(round4(r.lang_confidence)));
    data.insert("doc".into(), json!(r.doc));
    data.insert("para".into(), json!(r.para));
    if let Some(t) = &r.translation {
        data.insert("translation".into(), json!(t));
    }
    if let Some(Value::Object(meta)) = &r.meta {
        for (k, v) in meta {
            let key = if OWN_FIELDS.contains(&k.as_str()) || data.contains_key(k) {
                format!("meta_{k}")
            } else {
                k.clone()
            };
            data.insert(key, v.clone());
        }
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
    for (label, ev) in r.evidence.iter().flatten() {
        result.push(json!({
            "id": format!("evidence-{}", label.as_str()),
            "from_name": EVIDENCE_FROM_NAME,
            "to_name": TO_NAME,
            "type": "labels",
            "value": {
                "start": ev.start,
                "end": ev.end,
                "text": ev.text,
                "labels": [label.as_str()],
            },
            "score": round4(ev.score as f64),
        }));
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
