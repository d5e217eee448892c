//! `veille classify`: files (or stdin) through the pipeline into a sink.

use super::{ingest_options, input_paths, progress, sink_for};
use crate::cli::{InputArgs, ModelArgs, OutputArgs, EXIT_OK, EXIT_RECORD_ERRORS};
use crate::ingest::{self, Document};
use crate::pipeline::Pipeline;
use anyhow::Result;

/// Documents are processed in groups of about this many paragraphs, so that the
/// encoder sees full batches across short documents while memory stays bounded.
const GROUP_PARAGRAPHS: usize = 256;

pub fn run(input: &InputArgs, output: &OutputArgs, model: &ModelArgs) -> Result<i32> {
    let mut pipeline = super::load_pipeline(model)?;
    let opts = ingest_options(input);
    let paths = input_paths(input);
    let mut sink = sink_for(output)?;
    let bar = progress(paths.len() as u64, "files");
    let mut errors = 0usize;
    let mut total = 0usize;
    let mut group: Vec<Document> = Vec::new();
    let mut flush = |group: &mut Vec<Document>, pipeline: &mut Pipeline| -> Result<()> {
        for r in pipeline.process(group) {
            errors += r.is_error() as usize;
            total += 1;
            sink.write(&r)?;
        }
        group.clear();
        Ok(())
    };
    for path in &paths {
        for doc in ingest::read_path(path, &opts) {
            group.push(doc);
            if group.iter().map(|d| d.inputs.len()).sum::<usize>() >= GROUP_PARAGRAPHS {
                flush(&mut group, &mut pipeline)?;
            }
        }
        bar.inc(1);
    }
    flush(&mut group, &mut pipeline)?;
    drop(flush);
    sink.finish()?;
    bar.finish_and_clear();
    tracing::info!("{total} records, {errors} errors");
    if errors > 0 {
        eprintln!(
            "veille: {errors} of {total} records are error records (see their \"error\" field)"
        );
    }
    Ok(if errors > 0 {
        EXIT_RECORD_ERRORS
    } else {
        EXIT_OK
    })
}
