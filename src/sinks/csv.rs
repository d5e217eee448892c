//! CSV sink: the JSONL record's columns, labels joined with `;`, one score column per
//! label (`score_espionage`, ...), `meta` as a JSON string.
//!
//! Spreadsheet safety: a text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
//! return would be read as a formula by a spreadsheet (`=HYPERLINK(...)` in a paragraph
//! becomes a live link), so such cells get a leading apostrophe, which spreadsheets show as
//! text and hide. `--csv-raw` writes cells as they are, for programs that read the file.

use super::Sink;
use crate::labels::Label;
use crate::record::Record;
use anyhow::Result;
use std::io::Write;

pub struct CsvSink<W: Write> {
    out: csv::Writer<W>,
    wrote_header: bool,
    raw: bool,
}

impl<W: Write> CsvSink<W> {
    /// `raw`: write text cells as they are (no formula neutralising).
    pub fn new(out: W, raw: bool) -> Self {
        CsvSink {
            out: csv::Writer::from_writer(out),
            wrote_header: false,
            raw,
        }
    }

    /// A sink that appends to a file which already has its header (`--resume`).
    pub fn appending(out: W, raw: bool) -> Self {
        CsvSink {
            wrote_header: true,
            ..CsvSink::new(out, raw)
        }
    }
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell as written: a leading apostrophe when it would start a formula.
pub fn safe_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
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
        let raw = self.raw;
        let text = |s: &str| -> String {
            if raw {
                s.to_string()
            } else {
                safe_cell(s).into_owned()
            }
        };
        let mut row = vec![
            text(&r.id),
            text(&r.doc),
            r.para.to_string(),
            text(&r.text),
            text(&r.lang),
            format!("{:.4}", r.lang_confidence),
            text(r.lang_guess.as_deref().unwrap_or_default()),
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
        row.push(text(&r.strategy));
        row.push(text(&r.model));
        row.push(text(r.translation.as_deref().unwrap_or_default()));
        row.push(text(
            &r.meta.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        ));
        row.push(text(r.error.as_deref().unwrap_or_default()));
        self.out.write_record(&row)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Record {
        Record {
            id: "@id".into(),
            doc: "doc".into(),
            para: 1,
            text: text.into(),
            lang: "en".into(),
            lang_confidence: 0.9,
            lang_guess: None,
            labels: vec![Label::Regulation],
            scores: Label::ALL.iter().map(|&l| (l, 0.25)).collect(),
            strategy: "embed".into(),
            model: "m".into(),
            translation: None,
            evidence: None,
            lang_source: None,
            meta: None,
            error: None,
        }
    }

    fn rows(raw: bool, text: &str) -> Vec<csv::StringRecord> {
        let mut buf = Vec::new();
        {
            let mut sink = CsvSink::new(&mut buf, raw);
            sink.write(&record(text)).unwrap();
            sink.finish().unwrap();
        }
        csv::Reader::from_reader(buf.as_slice())
            .records()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn formula_cells_get_an_apostrophe() {
        for start in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let row = &rows(false, start)[0];
            assert_eq!(&row[3], format!("'{start}"), "{start:?}");
            assert_eq!(&row[0], "'@id");
            // Scores are numbers, never neutralised.
            assert_eq!(&row[9], "0.2500");
        }
        assert_eq!(&rows(false, "plain = text")[0][3], "plain = text");
    }

    #[test]
    fn csv_raw_writes_cells_as_they_are() {
        let row = &rows(true, "=1+1")[0];
        assert_eq!(&row[3], "=1+1");
        assert_eq!(&row[0], "@id");
    }
}
