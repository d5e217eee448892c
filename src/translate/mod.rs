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
use std::path::Path;

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

/// Translation settings (the command layer fills them from `--beams`, `--max-length` and
/// `--translate-batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// Beam width (1 = greedy).
    pub beams: usize,
    /// Maximum length in tokens of a translated piece; longer paragraphs are split into
    /// sentences, translated in chunks of at most this many source tokens and rejoined.
    pub max_length: usize,
    /// Sentences (or short paragraphs) per translation batch.
    pub translate_batch: usize,
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
