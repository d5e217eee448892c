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
    pipeline.set_language_options(crate::language::LanguageOptions {
        forced: input.lang,
        ..Default::default()
    });
    let opts = ingest_options(input);
    let paths = input_paths(input);
    let mut sink = sink_for(output)?;
    let bar = progress(paths.len() as u64, "files");
    let mut counts = Counts::default();
    let mut group: Vec<Document> = Vec::new();
    for path in &paths {
        for doc in ingest::read_path(path, &opts) {
            group.push(doc);
            if group.iter().map(|d| d.inputs.len()).sum::<usize>() >= GROUP_PARAGRAPHS {
                write_group(&mut group, &mut pipeline, sink.as_mut(), &mut counts)?;
            }
        }
        bar.inc(1);
    }
    write_group(&mut group, &mut pipeline, sink.as_mut(), &mut counts)?;
    sink.finish()?;
    bar.finish_and_clear();
    let Counts { total, errors } = counts;
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

#[derive(Default)]
struct Counts {
    total: usize,
    errors: usize,
}

/// Runs a group of documents through the pipeline and writes its records.
fn write_group(
    group: &mut Vec<Document>,
    pipeline: &mut Pipeline,
    sink: &mut (dyn crate::sinks::Sink + Send),
    counts: &mut Counts,
) -> Result<()> {
    for r in pipeline.process(group) {
        counts.errors += r.is_error() as usize;
        counts.total += 1;
        sink.write(&r)?;
    }
    group.clear();
    Ok(())
}
