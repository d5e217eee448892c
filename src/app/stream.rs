//! `veille stream`: checks the flags, loads the models (before reading anything), runs
//! [`crate::stream`] and turns its outcome into the exit status.

use crate::cli::{StreamArgs, EXIT_OK, EXIT_RECORD_ERRORS};
use crate::stream::StreamOptions;
use anyhow::{bail, Result};

pub fn run(args: &StreamArgs) -> Result<i32> {
    if args.max_batch == 0 {
        bail!("--max-batch must be at least 1");
    }
    if args.max_chars == 0 {
        bail!("--max-chars must be at least 1");
    }
    // Models first: nothing is read from stdin until they are loaded.
    let mut pipeline = super::load_pipeline(&args.model)?;
    pipeline.set_language_options(crate::language::LanguageOptions {
        forced: args.lang,
        doc_memory: args.doc_memory,
        anonymous_doc: Some(crate::stream::STDIN_NAME.to_string()),
    });
    let opts = StreamOptions {
        input: args.input,
        format: args.format,
        max_batch: args.max_batch,
        max_wait: std::time::Duration::from_millis(args.max_wait_ms),
        unordered: args.unordered,
        max_chars: args.max_chars,
    };
    let outcome = crate::stream::run(&opts, pipeline)?;
    tracing::info!("{} records, {} errors", outcome.records, outcome.errors);
    if outcome.errors > 0 && !outcome.closed {
        eprintln!(
            "veille: {} of {} records are error records (see their \"error\" field)",
            outcome.errors, outcome.records
        );
    }
    // A closed stdout ends quietly with 0 (as `rg` or `grep` do), whatever was counted
    // before the reader went away.
    Ok(if outcome.errors > 0 && !outcome.closed {
        EXIT_RECORD_ERRORS
    } else {
        EXIT_OK
    })
}
