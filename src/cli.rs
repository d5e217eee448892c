//! The command line: a thin layer of clap definitions; each command's work lives in its
//! own module.

use crate::ingest::InputFormat;
use crate::sinks::OutputFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit code when every record is fine.
pub const EXIT_OK: i32 = 0;
/// Exit code when some records are error records.
pub const EXIT_RECORD_ERRORS: i32 = 1;
/// Exit code for usage or configuration errors (bad flags, missing model, ...).
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "veille",
    version,
    about = "Label news paragraphs (sv, en, fr): espionage, influence-operation, corporate-denial, regulation",
    after_help = "Examples:\n  veille classify corpora/sample -o out/sample.jsonl\n  cat feed.jsonl | veille stream | jq .labels\n  veille compare gold.jsonl predictions.jsonl --format markdown"
)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args, Clone)]
pub struct InputArgs {
    /// Files or directories (walked recursively, sorted); `-` or nothing reads stdin.
    pub paths: Vec<PathBuf>,
    /// How to read the inputs (auto: by extension; stdin by content).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input: InputFormat,
    /// Paragraphs longer than this many characters become error records.
    #[arg(long, default_value_t = crate::ingest::DEFAULT_MAX_CHARS)]
    pub max_chars: usize,
}

#[derive(Debug, clap::Args, Clone)]
pub struct OutputArgs {
    /// Write records to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect the language of each paragraph (sv, en, fr or und).
    #[command(after_help = "Examples:\n  veille detect corpora/sample\n  veille detect corpora/langid --report   # accuracy against the records' gold \"lang\"")]
    Detect {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Print accuracy per language and length bucket (stderr), against the gold
        /// `lang` field of JSONL inputs.
        #[arg(long)]
        report: bool,
    },
    /// Compare labelled files: model vs gold, annotator vs annotator, run vs run.
    #[command(after_help = "Examples:\n  veille compare gold.jsonl out.jsonl\n  veille compare a.jsonl b.jsonl c.jsonl --format json")]
    Compare(crate::compare::CompareArgs),
}
