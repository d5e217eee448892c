//! Sinks: where records go. Each output format is a [`Sink`]; the classify and stream
//! commands write every record as it is produced and call [`Sink::finish`] at the end
//! (formats such as a JSON array need a closing step).

pub mod csv;
pub mod doccano;
pub mod jsonl;
pub mod labelstudio;
pub mod parquet;

use crate::record::Record;
use anyhow::Result;
use std::io::Write;

pub trait Sink {
    fn write(&mut self, record: &Record) -> Result<()>;
    /// Flushes buffered output (called after each stream micro-batch as well).
    fn flush(&mut self) -> Result<()>;
    /// Writes any closing bytes and flushes.
    fn finish(&mut self) -> Result<()> {
        self.flush()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON record per line (the default; the schema in the README).
    Jsonl,
    /// The same columns as CSV: labels joined with `;`, one score column per label.
    Csv,
    /// A Label Studio JSON task array with predictions (`choices`, score, model version).
    #[value(name = "label-studio")]
    LabelStudio,
    /// doccano text-classification JSON Lines (`text`, `label`).
    Doccano,
    /// Apache Parquet (needs -o FILE): one row per record, `labels` a list of strings, one
    /// float32 column per label score.
    Parquet,
}

/// Format details beyond the format itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkOptions {
    /// CSV: write text cells as they are (no spreadsheet-formula neutralising).
    pub csv_raw: bool,
    /// The output already holds records (and, for CSV, its header): append after them.
    pub appending: bool,
}

/// Opens the sink for `format` over `out`, with the default options.
pub fn open_sink(format: OutputFormat, out: Box<dyn Write + Send>) -> Box<dyn Sink + Send> {
    open_sink_with(format, out, &SinkOptions::default())
}

/// Opens the sink for `format` over `out`.
pub fn open_sink_with(
    format: OutputFormat,
    out: Box<dyn Write + Send>,
    opts: &SinkOptions,
) -> Box<dyn Sink + Send> {
    match format {
        OutputFormat::Jsonl => Box::new(jsonl::JsonlSink::new(out)),
        OutputFormat::Csv if opts.appending => Box::new(csv::CsvSink::appending(out, opts.csv_raw)),
        OutputFormat::Csv => Box::new(csv::CsvSink::new(out, opts.csv_raw)),
        OutputFormat::Parquet => Box::new(parquet::ParquetSink::new(out)),
        OutputFormat::LabelStudio => Box::new(labelstudio::LabelStudioSink::new(out)),
        OutputFormat::Doccano => Box::new(doccano::DoccanoSink::new(out)),
    }
}
