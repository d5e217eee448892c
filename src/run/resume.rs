//! `--resume`: what an interrupted output file already holds.
//!
//! A run killed at any point (even `kill -9` in the middle of a write) leaves whole records
//! followed by at most one torn one. [`read_existing`] finds where the whole records end,
//! the ids they carry and their counts; the caller cuts the file there and appends.
//!
//! * JSON Lines (veille's and doccano's): a record is whole when its line ends with `\n`
//!   and parses.
//! * CSV: a record is whole when it has every column and writing its fields again gives
//!   back exactly its bytes, newline included; a record torn inside a quoted cell or before
//!   its newline fails that test.

use super::manifest::Counts;
use crate::sinks::csv::header;
use crate::sinks::OutputFormat;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// The whole records at the start of an output file.
#[derive(Debug, Default)]
pub struct Existing {
    /// Ids as written (CSV cells may carry a spreadsheet-safety apostrophe).
    pub ids: HashSet<String>,
    pub counts: Counts,
    /// Bytes of whole records (and the CSV header); the rest is torn.
    pub whole_bytes: u64,
    /// Bytes after them, dropped on resume.
    pub torn_bytes: u64,
}

/// The formats `--resume` can append to.
pub fn resumable(format: OutputFormat) -> bool {
    matches!(
        format,
        OutputFormat::Jsonl | OutputFormat::Csv | OutputFormat::Doccano
    )
}

pub fn read_existing(path: &Path, format: OutputFormat) -> Result<Existing> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut existing = match format {
        OutputFormat::Jsonl => read_jsonl(&bytes, jsonl_record)?,
        OutputFormat::Doccano => read_jsonl(&bytes, doccano_record)?,
        OutputFormat::Csv => read_csv(&bytes)?,
        other => bail!("--resume cannot append to {other:?} output; use jsonl, csv or doccano"),
    };
    existing.torn_bytes = bytes.len() as u64 - existing.whole_bytes;
    Ok(existing)
}

/// id, is-error and labels of one JSON Lines record.
type Fields = (String, bool, Vec<String>);

fn jsonl_record(v: &serde_json::Value) -> Option<Fields> {
    let id = v.get("id")?.as_str()?.to_string();
    let error = !v.get("error")?.is_null();
    Some((id, error, string_list(v.get("labels")?)?))
}

fn doccano_record(v: &serde_json::Value) -> Option<Fields> {
    let id = v.get("id")?.as_str()?.to_string();
    let error = v.get("error").is_some_and(|e| !e.is_null());
    Some((id, error, string_list(v.get("label")?)?))
}

fn string_list(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|l| l.as_str().map(str::to_string))
        .collect()
}

fn read_jsonl(bytes: &[u8], fields: fn(&serde_json::Value) -> Option<Fields>) -> Result<Existing> {
    let mut out = Existing {
        counts: Counts::new(),
        ..Default::default()
    };
    let mut start = 0usize;
    while let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') {
        let line = &bytes[start..start + nl];
        let parsed = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .as_ref()
            .and_then(fields);
        let Some((id, error, labels)) = parsed else {
            // A whole line that is not a record: the file is not what we would write.
            bail!(
                "line {} is not a veille record; not resuming into this file",
                out.counts.records + 1
            );
        };
        out.counts
            .add_parts(error, labels.iter().map(String::as_str));
        out.ids.insert(id);
        start += nl + 1;
    }
    out.whole_bytes = start as u64;
    Ok(out)
}

fn read_csv(bytes: &[u8]) -> Result<Existing> {
    let mut out = Existing {
        counts: Counts::new(),
        ..Default::default()
    };
    let columns = header();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .expect("known column")
    };
    let (id_col, labels_col, error_col) = (col("id"), col("labels"), col("error"));
    let mut row = csv::ByteRecord::new();
    let mut start = 0u64;
    let mut first = true;
    loop {
        // A parse error can only come from the torn end: stop there.
        if !reader.read_byte_record(&mut row).unwrap_or(false) {
            break;
        }
        let end = reader.position().byte();
        let raw = &bytes[start as usize..end as usize];
        if row.len() != columns.len() || rewrite(&row)? != raw {
            break; // torn: only the last record can be
        }
        if first {
            if row.iter().ne(columns.iter().map(|c| c.as_bytes())) {
                bail!("the CSV header is not veille's; not resuming into this file");
            }
            first = false;
        } else {
            let text = |i: usize| String::from_utf8_lossy(&row[i]).into_owned();
            let labels = text(labels_col);
            out.counts.add_parts(
                !row[error_col].is_empty(),
                labels.split(';').filter(|l| !l.is_empty()),
            );
            out.ids.insert(text(id_col));
        }
        start = end;
    }
    out.whole_bytes = start;
    Ok(out)
}

/// A CSV record's bytes as veille's writer puts them.
fn rewrite(row: &csv::ByteRecord) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_byte_record(row)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Cuts `path` to its first `len` bytes (dropping a torn record).
pub fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.set_len(len)
        .with_context(|| format!("cannot truncate {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Label;
    use crate::record::Record;
    use crate::sinks::open_sink;

    fn record(i: usize) -> Record {
        Record {
            id: format!("=doc#{i}"),
            doc: "doc".into(),
            para: i,
            text: format!("paragraph {i},\n with \"quotes\" and a newline"),
            lang: "en".into(),
            lang_confidence: 0.9,
            lang_guess: None,
            labels: if i.is_multiple_of(2) {
                vec![Label::Espionage]
            } else {
                vec![]
            },
            scores: Label::ALL.iter().map(|&l| (l, 0.5)).collect(),
            strategy: "embed".into(),
            model: "m".into(),
            translation: None,
            evidence: None,
            lang_source: None,
            meta: None,
            error: (i == 3).then(|| "broken".to_string()),
        }
    }

    fn written(format: OutputFormat, n: usize) -> Vec<u8> {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = open_sink(format, Box::new(Shared(buf.clone())));
        for i in 0..n {
            sink.write(&record(i)).unwrap();
        }
        sink.finish().unwrap();
        drop(sink);
        let bytes = buf.lock().unwrap().clone();
        bytes
    }

    fn check_every_cut(format: OutputFormat) {
        let full = written(format, 6);
        let whole = read_existing_bytes(&full, format);
        assert_eq!(whole.counts.records, 6);
        assert_eq!(whole.counts.errors, 1);
        assert_eq!(whole.counts.labels["espionage"], 3);
        assert_eq!(whole.torn_bytes, 0);
        // Cut anywhere: what is kept is a prefix of whole records, and no record is lost
        // that was entirely written.
        let mut ends = vec![];
        for cut in 0..=full.len() {
            let e = read_existing_bytes(&full[..cut], format);
            assert!(e.whole_bytes as usize <= cut);
            let kept = &full[..e.whole_bytes as usize];
            assert_eq!(e.torn_bytes as usize, cut - kept.len());
            ends.push((cut, e.counts.records, e.ids.len()));
        }
        // Each record boundary is recognised exactly when the cut reaches it.
        let last = ends.last().unwrap();
        assert_eq!((last.1, last.2), (6, 6));
        for w in ends.windows(2) {
            assert!(w[1].1 >= w[0].1, "monotone: {w:?}");
        }
    }

    fn read_existing_bytes(bytes: &[u8], format: OutputFormat) -> Existing {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out");
        std::fs::write(&p, bytes).unwrap();
        read_existing(&p, format).unwrap()
    }

    #[test]
    fn jsonl_keeps_whole_lines_only() {
        check_every_cut(OutputFormat::Jsonl);
        let full = written(OutputFormat::Jsonl, 2);
        let e = read_existing_bytes(&full[..full.len() - 1], OutputFormat::Jsonl);
        assert_eq!(e.counts.records, 1);
        assert!(e.ids.contains("=doc#0"));
    }

    #[test]
    fn csv_keeps_whole_records_only() {
        check_every_cut(OutputFormat::Csv);
        // The ids come back as written (with the apostrophe).
        let e = read_existing_bytes(&written(OutputFormat::Csv, 2), OutputFormat::Csv);
        assert!(e.ids.contains("'=doc#1"), "{:?}", e.ids);
        // A cut inside the quoted, multi-line text of the last record drops it.
        let full = written(OutputFormat::Csv, 2);
        let text = b"paragraph 1,\n with";
        let at = full.windows(text.len()).position(|w| w == text).unwrap();
        let cut = at + text.len() - 4;
        let e = read_existing_bytes(&full[..cut], OutputFormat::Csv);
        assert_eq!(e.counts.records, 1);
    }

    #[test]
    fn doccano_and_refusals() {
        check_every_cut(OutputFormat::Doccano);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"not\": \"a record\"}\n").unwrap();
        assert!(read_existing(&p, OutputFormat::Jsonl).is_err());
        assert!(!resumable(OutputFormat::LabelStudio));
    }
}
