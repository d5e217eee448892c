//! CSV sink: the JSONL record's columns, labels joined with `;`, one score column per
//! label (`score_espionage`, ...), `meta` as a JSON string.

use super::Sink;
use crate::labels::Label;
use crate::record::Record;
use anyhow::Result;
use std::io::Write;

pub struct CsvSink<W: Write> {
    out: csv::Writer<W>,
    wrote_header: bool,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out: csv::Writer::from_writer(out),
            wrote_header: false,
        }
    }
}

pub fn header() -> Vec<String> {
    let mut h: Vec<String> = [
        "id",
        "doc",
        "para",
        "text",
        "lang",
        "lang_confidence",
        "lang_guess",
        "lang_source",
        "labels",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(Label::ALL.iter().map(|l| format!("score_{l}")));
    h.extend(
        ["strategy", "model", "translation", "meta", "error"]
            .iter()
            .map(|s| s.to_string()),
    );
    h
}

impl<W: Write> Sink for CsvSink<W> {
    fn write(&mut self, r: &Record) -> Result<()> {
        if !self.wrote_header {
            self.out.write_record(header())?;
            self.wrote_header = true;
        }
        let labels: Vec<&str> = r.labels.iter().map(|l| l.as_str()).collect();
        let mut row = vec![
            r.id.clone(),
            r.doc.clone(),
            r.para.to_string(),
            r.text.clone(),
            r.lang.clone(),
            format!("{:.4}", r.lang_confidence),
            r.lang_guess.clone().unwrap_or_default(),
            r.lang_source
                .map(|s| s.as_str())
                .unwrap_or_default()
                .to_string(),
            labels.join(";"),
        ];
        for l in Label::ALL {
            row.push(
                r.scores
                    .get(&l)
                    .map(|s| format!("{s:.4}"))
                    .unwrap_or_default(),
            );
        }
        row.push(r.strategy.clone());
        row.push(r.model.clone());
        row.push(r.translation.clone().unwrap_or_default());
        row.push(r.meta.as_ref().map(|m| m.to_string()).unwrap_or_default());
        row.push(r.error.clone().unwrap_or_default());
        self.out.write_record(&row)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
