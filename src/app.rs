//! Command dispatch: each subcommand wires ingest, stages and sinks together.

use crate::cli::{Cli, Command, InputArgs, OutputArgs, EXIT_OK, EXIT_RECORD_ERRORS};
use crate::ingest::{self, Document, IngestOptions};
use crate::language::LanguageIdentifier;
use crate::record::Record;
use crate::sinks::{open_sink, Sink};
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Detect { input, output, report } => detect(&input, &output, report),
        Command::Compare(args) => crate::compare::run(&args),
    }
}

pub fn ingest_options(input: &InputArgs) -> IngestOptions {
    IngestOptions { format: input.input, max_chars: input.max_chars }
}

/// The paths to read: none means stdin.
pub fn input_paths(input: &InputArgs) -> Vec<PathBuf> {
    if input.paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        ingest::expand_paths(&input.paths)
    }
}

/// Opens the sink named by the output flags (stdout by default).
pub fn sink_for(output: &OutputArgs) -> Result<Box<dyn Sink + Send>> {
    let out: Box<dyn std::io::Write + Send> = match &output.output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    Ok(open_sink(output.format, out))
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A record for an input that failed before any model saw it.
pub fn error_record(input: &ingest::Input, strategy: &str, model: &str) -> Record {
    Record {
        id: input.id.clone(),
        doc: input.doc.clone(),
        para: input.para,
        text: input.text.clone(),
        lang: "und".into(),
        lang_confidence: 0.0,
        lang_guess: None,
        labels: Vec::new(),
        scores: Default::default(),
        strategy: strategy.into(),
        model: model.into(),
        translation: None,
        meta: input.meta.clone(),
        error: input.error.clone(),
    }
}

/// Language records for one document: every input yields exactly one record.
pub fn detect_document(langid: &LanguageIdentifier, doc: &Document) -> Vec<Record> {
    let ok: Vec<&str> = doc.inputs.iter().filter(|i| i.error.is_none()).map(|i| i.text.as_str()).collect();
    let mut guesses = langid.detect_document(&ok).into_iter();
    doc.inputs
        .iter()
        .map(|input| {
            let mut r = error_record(input, "detect", crate::language::DETECTOR_ID);
            if input.error.is_none() {
                let g = guesses.next().expect("one guess per valid input");
                r.lang = g.lang.to_string();
                r.lang_confidence = g.confidence;
                r.lang_guess = g.guess;
            }
            r
        })
        .collect()
}

fn detect(input: &InputArgs, output: &OutputArgs, report: bool) -> Result<i32> {
    let opts = ingest_options(input);
    let langid = LanguageIdentifier::new();
    let mut sink = sink_for(output)?;
    let mut errors = 0usize;
    let mut accuracy = crate::language::report::AccuracyReport::default();
    for path in input_paths(input) {
        for doc in ingest::read_path(&path, &opts) {
            for r in detect_document(&langid, &doc) {
                errors += r.is_error() as usize;
                if report {
                    accuracy.add(&r);
                }
                sink.write(&r)?;
            }
        }
    }
    sink.finish()?;
    if report {
        eprint!("{}", accuracy.render());
    }
    Ok(if errors > 0 { EXIT_RECORD_ERRORS } else { EXIT_OK })
}
