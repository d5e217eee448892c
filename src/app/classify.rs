//! `veille classify`: files (or stdin) through the pipeline into the output, with
//! `--resume`, `--shard`, the provenance manifest and progress (see [`crate::run`]).

use super::{batch_output, ingest_options, input_paths};
use crate::cli::{InputArgs, ModelArgs, OutputArgs, EXIT_OK, EXIT_RECORD_ERRORS};
use crate::ingest::Document;
use crate::pipeline::Pipeline;
use crate::run::manifest::Models;
use crate::run::output::BatchOutput;
use crate::run::progress::{self, Progress};
use anyhow::Result;

/// Documents are processed in groups of about this many paragraphs, so that the
/// encoder sees full batches across short documents while memory stays bounded.
/// Groups are formed over the whole input (shard) even when resuming, so a resumed run
/// batches every paragraph exactly as an uninterrupted one does.
const GROUP_PARAGRAPHS: usize = 256;

pub fn run(input: &InputArgs, output: &OutputArgs, model: &ModelArgs) -> Result<i32> {
    let mut pipeline = super::load_pipeline(model)?;
    pipeline.set_language_options(crate::language::LanguageOptions {
        forced: input.lang,
        ..Default::default()
    });
    let models = Models {
        strategy: pipeline.strategy().as_str().to_string(),
        model_id: pipeline.model_id(),
        ..super::heads_hashes(model)?
    };
    let opts = ingest_options(input);
    let paths = input_paths(input);
    let mut out = batch_output(input, output, &paths, models)?;
    let docs = || crate::run::documents(&paths, &opts, input.shard);
    // Counting reads the files twice: worth it only for a bar someone watches.
    let total =
        (progress::interactive() && !paths.iter().any(|p| p.as_os_str() == "-")).then(|| {
            docs()
                .flat_map(|d| d.inputs)
                .filter(|i| !out.is_done(&i.id))
                .count() as u64
        });
    let bar = Progress::new(total);
    let mut group: Vec<Document> = Vec::new();
    let mut size = 0;
    for doc in docs() {
        size += doc.inputs.len();
        group.push(doc);
        if size >= GROUP_PARAGRAPHS {
            write_group(&group, &mut pipeline, &mut out, &bar)?;
            group.clear();
            size = 0;
        }
    }
    write_group(&group, &mut pipeline, &mut out, &bar)?;
    let (written, written_errors, resumed) = (out.written(), out.written_errors(), out.resumed());
    let counts = out.finish()?;
    bar.finish(written, written_errors, resumed);
    let errors = counts.errors;
    if errors > 0 {
        eprintln!(
            "veille: {errors} of {} records are error records (see their \"error\" field)",
            counts.records
        );
    }
    Ok(if errors > 0 {
        EXIT_RECORD_ERRORS
    } else {
        EXIT_OK
    })
}

/// Runs a group of documents through the pipeline and writes its records; a group the
/// output already holds entirely (`--resume`) is skipped without running the model.
fn write_group(
    group: &[Document],
    pipeline: &mut Pipeline,
    out: &mut BatchOutput,
    bar: &Progress,
) -> Result<()> {
    let inputs = || group.iter().flat_map(|d| &d.inputs);
    if inputs().all(|i| out.is_done(&i.id)) {
        return Ok(());
    }
    let before = out.written();
    for r in pipeline.process(group) {
        out.write(&r)?;
    }
    out.flush()?;
    bar.inc(out.written() - before);
    Ok(())
}
