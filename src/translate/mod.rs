//! Translation to English for the `translate` strategy. Translators sit behind
//! [`Translator`], so the pipeline does not care whether a Marian model, a generated test
//! model or nothing at all is installed for a language.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Why a paragraph could not be translated.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// No model is installed for this source language.
    #[error("no translation model for {lang}->en is installed: add one with `veille models add PATH` (e.g. a Helsinki-NLP {suggested} folder) or `veille models fetch {suggested}`")]
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
    /// Maximum generated tokens per sentence.
    #[arg(long, default_value_t = 256)]
    pub max_length: usize,
}

/// `veille models add|fetch`: translation models the user supplies.
#[derive(Debug, clap::Subcommand)]
pub enum TranslationModelsCommand {
    /// Install a Marian translation model folder (e.g. Helsinki-NLP opus-mt-sv-en) after
    /// checking its files, shapes and vocabulary sizes.
    Add {
        /// The model folder: config.json, weights (.safetensors or .ot), source.spm,
        /// target.spm, vocab.json.
        path: PathBuf,
        /// Source language it translates from (default: from the folder or config name).
        #[arg(long)]
        lang: Option<String>,
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
    },
    /// Download a Marian model from a Hugging Face-compatible endpoint, with resume and
    /// sha256 checks.
    Fetch {
        /// Repository name, e.g. Helsinki-NLP/opus-mt-sv-en.
        name: String,
        /// Base URL of the endpoint.
        #[arg(long, default_value = "https://huggingface.co", env = "VEILLE_HUB_URL")]
        endpoint: String,
        #[arg(long, default_value = "main")]
        revision: String,
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
    },
}

/// The translator over whatever translation models are installed in `models_dir`
/// (`None` when there are none: English still passes through).
pub fn installed_translator(models_dir: &Path, opts: &TranslateOptions) -> Result<Option<Box<dyn Translator>>> {
    let _ = (models_dir, opts);
    Ok(None)
}

/// Runs `veille models add|fetch`.
pub fn run_models_command(cmd: &TranslationModelsCommand) -> Result<i32> {
    let _ = cmd;
    anyhow::bail!("translation model installation is not built yet")
}
