//! Apache Parquet sink: one row per record. Columns: `id`, `doc`, `para` (int64), `text`,
//! `lang`, `lang_confidence` (float64), `lang_guess`, `lang_source`, `labels` (list of
//! strings), one float32 column per label score (`score_espionage`, ...; null on error
//! records), `strategy`, `model`, `translation`, `evidence` (JSON text, with
//! `--evidence`), `meta` (JSON text) and `error` (null when fine).
//!
//! Rows are gathered in column builders and handed to the Parquet writer every
//! [`BATCH_ROWS`] records; row groups are capped at [`ROW_GROUP_ROWS`] rows, so memory
//! stays flat however long the run. A Parquet file is only readable once its footer is
//! written by [`Sink::finish`], which is why `--resume` does not take this format.

use super::Sink;
use crate::labels::Label;
use crate::record::Record;
use anyhow::{Context, Result};
use arrow_array::builder::{
    Float32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::sync::Arc;

/// Records per Arrow batch handed to the writer.
pub const BATCH_ROWS: usize = 1024;
/// Rows per Parquet row group (the writer holds one group in memory while encoding it).
pub const ROW_GROUP_ROWS: usize = 8192;

/// The Arrow schema of veille's Parquet files.
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        text("id", false),
        text("doc", false),
        Field::new("para", DataType::Int64, false),
        text("text", false),
        text("lang", false),
        Field::new("lang_confidence", DataType::Float64, false),
        text("lang_guess", true),
        text("lang_source", true),
        Field::new(
            "labels",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
    ];
    fields.extend(
        Label::ALL
            .iter()
            .map(|l| Field::new(format!("score_{l}"), DataType::Float32, true)),
    );
    fields.extend([
        text("strategy", false),
        text("model", false),
        text("translation", true),
        text("evidence", true),
        text("meta", true),
        text("error", true),
    ]);
    Arc::new(Schema::new(fields))
}

/// Column builders for the rows not yet handed to the writer.
struct Columns {
    id: StringBuilder,
    doc: StringBuilder,
    para: Int64Builder,
    text: StringBuilder,
    lang: StringBuilder,
    lang_confidence: Float64Builder,
    lang_guess: StringBuilder,
    lang_source: StringBuilder,
    labels: ListBuilder<StringBuilder>,
    scores: Vec<Float32Builder>,
    strategy: StringBuilder,
    model: StringBuilder,
    translation: StringBuilder,
    evidence: StringBuilder,
    meta: StringBuilder,
    error: StringBuilder,
    rows: usize,
}

impl Columns {
    fn new() -> Self {
        Columns {
            id: StringBuilder::new(),
            doc: StringBuilder::new(),
            para: Int64Builder::new(),
            text: StringBuilder::new(),
            lang: StringBuilder::new(),
            lang_confidence: Float64Builder::new(),
            lang_guess: StringBuilder::new(),
            lang_source: StringBuilder::new(),
            labels: ListBuilder::new(StringBuilder::new()),
            scores: Label::ALL.iter().map(|_| Float32Builder::new()).collect(),
            strategy: StringBuilder::new(),
            model: StringBuilder::new(),
            translation: StringBuilder::new(),
            evidence: StringBuilder::new(),
            meta: StringBuilder::new(),
            error: StringBuilder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, r: &Record) {
        self.id.append_value(&r.id);
        self.doc.append_value(&r.doc);
        self.para.append_value(r.para as i64);
        self.text.append_value(&r.text);
        self.lang.append_value(&r.lang);
        self.lang_confidence.append_value(r.lang_confidence);
        self.lang_guess.append_option(r.lang_guess.as_deref());
        self.lang_source
            .append_option(r.lang_source.map(|s| s.as_str()));
        self.labels
            .append_value(r.labels.iter().map(|l| Some(l.as_str())));
        for (l, b) in Label::ALL.iter().zip(&mut self.scores) {
            b.append_option(r.scores.get(l).copied());
        }
        self.strategy.append_value(&r.strategy);
        self.model.append_value(&r.model);
        self.translation.append_option(r.translation.as_deref());
        self.evidence.append_option(
            r.evidence
                .as_ref()
                .and_then(|e| serde_json::to_string(e).ok()),
        );
        self.meta
            .append_option(r.meta.as_ref().map(|m| m.to_string()));
        self.error.append_option(r.error.as_deref());
        self.rows += 1;
    }

    /// The gathered rows as a batch; the builders start over.
    fn take(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.doc.finish()),
            Arc::new(self.para.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.lang.finish()),
            Arc::new(self.lang_confidence.finish()),
            Arc::new(self.lang_guess.finish()),
            Arc::new(self.lang_source.finish()),
            Arc::new(self.labels.finish()),
        ];
        columns.extend(
            self.scores
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend([
            Arc::new(self.strategy.finish()) as ArrayRef,
            Arc::new(self.model.finish()),
            Arc::new(self.translation.finish()),
            Arc::new(self.evidence.finish()),
            Arc::new(self.meta.finish()),
            Arc::new(self.error.finish()),
        ]);
        self.rows = 0;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

pub struct ParquetSink<W: Write + Send> {
    schema: SchemaRef,
    pending: Columns,
    writer: Option<ArrowWriter<W>>,
    /// The writer cannot be created lazily from a failed state: its error waits for `write`.
    open_error: Option<String>,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(out: W) -> Self {
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("veille {}", env!("CARGO_PKG_VERSION")))
            .build();
        let (writer, open_error) = match ArrowWriter::try_new(out, schema.clone(), Some(props)) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        };
        ParquetSink {
            schema,
            pending: Columns::new(),
            writer,
            open_error,
        }
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.rows == 0 {
            return Ok(());
        }
        let batch = self.pending.take(&self.schema)?;
        let writer = self.writer_mut()?;
        writer.write(&batch).context("cannot write Parquet")?;
        Ok(())
    }

    fn writer_mut(&mut self) -> Result<&mut ArrowWriter<W>> {
        match (&mut self.writer, &self.open_error) {
            (Some(w), _) => Ok(w),
            (None, Some(e)) => anyhow::bail!("cannot start the Parquet file: {e}"),
            (None, None) => anyhow::bail!("the Parquet file is already closed"),
        }
    }
}

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn write(&mut self, r: &Record) -> Result<()> {
        self.pending.push(r);
        if self.pending.rows >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Rows reach the file a row group at a time; nothing to push before that.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if self.writer.is_none() && self.open_error.is_none() {
            return Ok(()); // finished already
        }
        self.write_pending()?;
        self.writer_mut()?;
        let writer = self.writer.take().expect("checked above");
        writer.close().context("cannot finish the Parquet file")?;
        Ok(())
    }
}

/// Reads a veille Parquet file back into records (tests, tools).
pub fn read_records(path: &std::path::Path) -> Result<Vec<Record>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("no {name} column"))
        };
        let strings = |name: &str| -> Result<Vec<Option<String>>> {
            let c = col(name)?.as_string::<i32>();
            Ok((0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i).to_string()))
                .collect())
        };
        let (id, doc, text, lang) = (
            strings("id")?,
            strings("doc")?,
            strings("text")?,
            strings("lang")?,
        );
        let (guess, strategy, model) = (
            strings("lang_guess")?,
            strings("strategy")?,
            strings("model")?,
        );
        let (translation, meta, error) =
            (strings("translation")?, strings("meta")?, strings("error")?);
        // Columns added after the first files were written (and absent from Parquet that
        // other tools write from records, e.g. the Spark example): optional.
        let optional = |name: &str| -> Result<Vec<Option<String>>> {
            if batch.column_by_name(name).is_some() {
                strings(name)
            } else {
                Ok(vec![None; batch.num_rows()])
            }
        };
        let (source, evidence) = (optional("lang_source")?, optional("evidence")?);
        let para = col("para")?.as_primitive::<Int64Type>();
        let confidence = col("lang_confidence")?.as_primitive::<Float64Type>();
        let labels = col("labels")?.as_list::<i32>();
        let scores: Vec<_> = Label::ALL
            .iter()
            .map(|l| col(&format!("score_{l}")).map(|c| c.as_primitive::<Float32Type>().clone()))
            .collect::<Result<_>>()?;
        for i in 0..batch.num_rows() {
            let list = labels.value(i);
            let list = list.as_string::<i32>();
            let labels = (0..list.len())
                .map(|j| {
                    list.value(j)
                        .parse::<Label>()
                        .map_err(|e| anyhow::anyhow!("{e}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let scores = Label::ALL
                .iter()
                .zip(&scores)
                .filter(|(_, c)| !c.is_null(i))
                .map(|(&l, c)| (l, c.value(i)))
                .collect();
            out.push(Record {
                id: id[i].clone().unwrap_or_default(),
                doc: doc[i].clone().unwrap_or_default(),
                para: para.value(i) as usize,
                text: text[i].clone().unwrap_or_default(),
                lang: lang[i].clone().unwrap_or_default(),
                lang_confidence: confidence.value(i),
                lang_guess: guess[i].clone(),
                lang_source: source[i]
                    .as_deref()
                    .map(|s| serde_json::from_value(serde_json::Value::String(s.into())))
                    .transpose()?,
                labels,
                scores,
                strategy: strategy[i].clone().unwrap_or_default(),
                model: model[i].clone().unwrap_or_default(),
                translation: translation[i].clone(),
                evidence: evidence[i]
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()?,
                meta: meta[i]
                    .as_deref()
                    .map(serde_json::from_str::<serde_json::Value>)
                    .transpose()?,
                error: error[i].clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> Record {
        Record {
            id: format!("doc#{i}"),
            doc: "doc".into(),
            para: i,
            text: format!("paragraph {i}"),
            lang: "sv".into(),
            lang_confidence: 0.75,
            lang_guess: i.is_multiple_of(5).then(|| "nb".to_string()),
            lang_source: i
                .is_multiple_of(4)
                .then_some(crate::language::LangSource::Forced),
            labels: if i.is_multiple_of(2) {
                vec![Label::Espionage, Label::Regulation]
            } else {
                vec![]
            },
            scores: if i % 7 == 3 {
                Default::default()
            } else {
                Label::ALL
                    .iter()
                    .map(|&l| (l, i as f32 / 3000.0 + l.index() as f32))
                    .collect()
            },
            strategy: "embed".into(),
            model: "m".into(),
            translation: i.is_multiple_of(3).then(|| format!("translated {i}")),
            evidence: i.is_multiple_of(2).then(|| {
                [(
                    Label::Espionage,
                    crate::evidence::Evidence {
                        start: 0,
                        end: 9,
                        text: "paragraph".into(),
                        score: 0.5,
                    },
                )]
                .into_iter()
                .collect()
            }),
            meta: i
                .is_multiple_of(4)
                .then(|| serde_json::json!({"source": i})),
            error: (i % 7 == 3).then(|| format!("error {i}")),
        }
    }

    #[test]
    fn records_come_back_as_written_over_several_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let n = ROW_GROUP_ROWS + BATCH_ROWS + 17;
        let written: Vec<Record> = (0..n).map(record).collect();
        {
            let mut sink = ParquetSink::new(std::fs::File::create(&path).unwrap());
            for r in &written {
                sink.write(r).unwrap();
            }
            sink.finish().unwrap();
            sink.finish().unwrap(); // twice is harmless
        }
        let back = read_records(&path).unwrap();
        assert_eq!(back.len(), n);
        assert_eq!(back, written);
    }

    #[test]
    fn an_empty_run_is_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        let mut sink = ParquetSink::new(std::fs::File::create(&path).unwrap());
        sink.finish().unwrap();
        assert!(read_records(&path).unwrap().is_empty());
    }
}
