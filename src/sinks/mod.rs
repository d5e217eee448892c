//! Sinks: where records go. Each output format is a [`Sink`]; the classify and stream
//! commands write every record as it is produced and call [`Sink::finish`] at the end
//! (formats such as a JSON array need a closing step).

pub mod csv;
pub mod doccano;
pub mod jsonl;
pub mod labelstudio;

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
}

/// Opens the sink for `format` over `out`.
pub fn open_sink(format: OutputFormat, out: Box<dyn Write + Send>) -> Box<dyn Sink + Send> {
    match format {
        OutputFormat::Jsonl => Box::new(jsonl::JsonlSink::new(out)),
        OutputFormat::Csv => Box::new(csv::CsvSink::new(out)),
        OutputFormat::LabelStudio => Box::new(labelstudio::LabelStudioSink::new(out)),
        OutputFormat::Doccano => Box::new(doccano::DoccanoSink::new(out)),
    }
}
