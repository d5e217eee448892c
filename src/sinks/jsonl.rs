//! JSON Lines sink: one record per line, the primary output format.

use super::Sink;
use crate::record::Record;
use anyhow::Result;
use std::io::{BufWriter, Write};

pub struct JsonlSink<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        JsonlSink {
            out: BufWriter::new(out),
        }
    }
}

impl<W: Write> Sink for JsonlSink<W> {
    fn write(&mut self, record: &Record) -> Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
