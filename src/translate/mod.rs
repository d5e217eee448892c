//! Translation to English for the `translate` strategy. Translators sit behind
//! [`Translator`], so the pipeline does not care whether a Marian model, a generated test
//! model or nothing at all is installed for a language.
//!
//! [`marian`] runs rust-bert's Marian from `models/opus-mt-<lang>-en/`; [`install`] is
//! `veille models add` (check, normalise, record in the manifest); [`fetch`] is
//! `veille models fetch` (Hugging Face-compatible download with resume and sha256 checks);
//! [`tiny`] generates a tiny random Marian model for tests and benchmarks.

pub mod fetch;
pub mod install;
pub mod marian;
pub mod tiny;

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Why a paragraph could not be translated.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// No model is installed for this source language.
    #[error("no translation model for {lang}->en is installed: add {suggested} with `veille models add PATH` (a local copy of that repository) or `veille models fetch {suggested}`")]
    MissingModel { lang: String, suggested: String },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Translates paragraphs from a source language to English.
pub trait Translator: Send {
    /// Ids and versions of the models used for `lang`, for the record's `model` field.
    fn model_id(&self, lang: &str) -> Option<String>;
    /// Translates `texts` (all in `lang`) to English, in order.
    fn translate(&mut self, lang: &str, texts: &[&str]) -> Result<Vec<String>, TranslateError>;
}

/// The model name suggested to a user who lacks one for `lang`.
pub fn suggested_model(lang: &str) -> String {
    format!("Helsinki-NLP/opus-mt-{lang}-en")
}

/// Translation settings shared by `classify --strategy translate` and `stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct TranslateOptions {
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

/// The translator over whatever translation models are installed in `models_dir`
/// (`None` when there are none: English still passes through).
/// Nothing is loaded here: each model loads at the first paragraph in its language.
pub fn installed_translator(
    models_dir: &Path,
    opts: &TranslateOptions,
) -> Result<Option<Box<dyn Translator>>> {
    if opts.beams == 0 || opts.max_length < 2 || opts.translate_batch == 0 {
        anyhow::bail!(
            "--beams and --translate-batch must be at least 1 and --max-length at least 2"
        );
    }
    let langs = marian::MarianTranslator::installed_languages(models_dir);
    if langs.is_empty() {
        return Ok(None);
    }
    tracing::info!("translation models installed for: {}", langs.join(", "));
    Ok(Some(Box::new(marian::MarianTranslator::new(
        models_dir, opts,
    ))))
}

/// Runs `veille models add|fetch`.
pub fn run_models_command(cmd: &TranslationModelsCommand) -> Result<i32> {
    let dir_or_default = |d: &Option<PathBuf>| d.clone().unwrap_or_else(crate::models::models_dir);
    match cmd {
        TranslationModelsCommand::Add {
            path,
            lang,
            models,
            force,
        } => {
            let name = install::add(path, lang.as_deref(), &dir_or_default(models), *force, None)?;
            eprintln!("veille: installed {name}");
        }
        TranslationModelsCommand::Fetch {
            name,
            endpoint,
            revision,
            lang,
            models,
            force,
        } => {
            let opts = fetch::FetchOptions {
                endpoint: endpoint.clone(),
                revision: revision.clone(),
            };
            let installed = fetch::fetch(
                name,
                lang.as_deref(),
                &dir_or_default(models),
                &opts,
                *force,
            )?;
            eprintln!("veille: installed {installed}");
        }
        TranslationModelsCommand::GenerateTinyMarian { dir, lang, seed } => {
            tiny::generate(dir, lang, *seed)?;
            eprintln!(
                "veille: generated a tiny random {lang}->en Marian model in {}",
                dir.display()
            );
        }
    }
    Ok(crate::cli::EXIT_OK)
}
