//! Marian translation on rust-bert: one model folder per source language
//! (`models/opus-mt-<lang>-en/`), loaded the first time a paragraph in that language
//! appears.
//!
//! A folder holds `config.json`, weights (`model.safetensors` or `rust_model.ot`; tch's
//! VarStore reads either by extension), `source.spm`, `target.spm` and `vocab.json`, as a
//! Helsinki-NLP opus-mt repository does (`veille models add` checks and normalises them).
//! Paragraphs longer than the maximum length (in source tokens) are split into sentences,
//! packed back into chunks that fit, translated, and rejoined with a space. Chunks are
//! sorted by length and translated in batches; decoding is greedy (`--beams 1`) or beam
//! search.

use super::{TranslateError, TranslateOptions, Translator};
use anyhow::{bail, Context, Result};
use rust_bert::marian::{MarianConfig, MarianGenerator};
use rust_bert::pipelines::common::{ModelResource, ModelType, TokenizerOption};
use rust_bert::pipelines::generation_utils::{GenerateConfig, LanguageGenerator};
use rust_bert::resources::LocalResource;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use unicode_segmentation::UnicodeSegmentation;

/// The folder name for a `lang`->en model under `models/`.
pub fn folder_name(lang: &str) -> String {
    format!("opus-mt-{lang}-en")
}

/// Weight file names looked for, in order.
pub const WEIGHT_NAMES: [&str; 2] = ["model.safetensors", "rust_model.ot"];

/// The files of a Marian folder.
#[derive(Debug, Clone)]
pub struct MarianFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
    pub source_spm: PathBuf,
    pub target_spm: PathBuf,
    pub vocab: PathBuf,
}

impl MarianFiles {
    /// Finds the files in `dir`; the error lists every missing one.
    pub fn find(dir: &Path) -> Result<MarianFiles> {
        if !dir.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        let weights = WEIGHT_NAMES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .or_else(|| {
                let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                    .ok()?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|e| e == "safetensors" || e == "ot")
                    })
                    .collect();
                found.sort();
                found.into_iter().next()
            });
        let mut missing = Vec::new();
        for name in ["config.json", "source.spm", "target.spm", "vocab.json"] {
            if !dir.join(name).is_file() {
                missing.push(name.to_string());
            }
        }
        if weights.is_none() {
            let hint = if dir.join("pytorch_model.bin").is_file() {
                " (pytorch_model.bin is a pickle file: take model.safetensors from the same repository, or convert it)"
            } else {
                ""
            };
            missing.push(format!("weights: model.safetensors or rust_model.ot{hint}"));
        }
        if !missing.is_empty() {
            bail!(
                "{} is not a complete Marian model folder; missing: {}",
                dir.display(),
                missing.join(", ")
            );
        }
        Ok(MarianFiles {
            config: dir.join("config.json"),
            weights: weights.expect("checked above"),
            source_spm: dir.join("source.spm"),
            target_spm: dir.join("target.spm"),
            vocab: dir.join("vocab.json"),
        })
    }
}

/// Reads a Marian `config.json` with an error that names the file (rust-bert's own reader
/// panics).
pub fn read_config(path: &Path) -> Result<MarianConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Marian (BART-style) config", path.display()))
}

/// One loaded `lang`->en model.
pub struct MarianModel {
    generator: MarianGenerator,
    tokenizer: TokenizerOption,
    id: String,
    opts: TranslateOptions,
    pad_id: i64,
    eos_id: i64,
}

/// Translations of a batch and the number of tokens generated.
pub struct Translated {
    pub texts: Vec<String>,
    pub tokens: usize,
}

impl MarianModel {
    /// Loads the model in `dir` (see the module documentation for the files).
    pub fn load(dir: &Path, opts: &TranslateOptions) -> Result<MarianModel> {
        let files = MarianFiles::find(dir)?;
        let config = read_config(&files.config)?;
        let spm = files.source_spm.to_string_lossy().into_owned();
        let tokenizer = || {
            TokenizerOption::from_file(
                ModelType::Marian,
                &files.vocab.to_string_lossy(),
                Some(spm.as_str()),
                false,
                None,
                None,
            )
            .with_context(|| {
                format!(
                    "loading the tokenizer {} + {}",
                    files.vocab.display(),
                    files.source_spm.display()
                )
            })
        };
        let generate_config = GenerateConfig {
            model_type: ModelType::Marian,
            model_resource: ModelResource::Torch(Box::new(LocalResource::from(
                files.weights.clone(),
            ))),
            config_resource: Box::new(LocalResource::from(files.config.clone())),
            vocab_resource: Box::new(LocalResource::from(files.vocab.clone())),
            merges_resource: Some(Box::new(LocalResource::from(files.source_spm.clone()))),
            min_length: 0,
            max_length: Some(opts.max_length.max(2) as i64),
            do_sample: false,
            early_stopping: true,
            num_beams: opts.beams.max(1) as i64,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            length_penalty: 1.0,
            no_repeat_ngram_size: 0,
            num_return_sequences: 1,
            num_beam_groups: None,
            diversity_penalty: None,
            device: tch::Device::cuda_if_available(),
            kind: None,
        };
        let generator = MarianGenerator::new_with_tokenizer(generate_config, tokenizer()?)
            .with_context(|| {
                format!(
                    "loading the Marian weights {} (install the folder with `veille models add`)",
                    files.weights.display()
                )
            })?;
        let id = crate::models::model_id_of_dir(dir)?;
        Ok(MarianModel {
            generator,
            tokenizer: tokenizer()?,
            id,
            opts: opts.clone(),
            pad_id: config.pad_token_id.unwrap_or(config.vocab_size - 1),
            eos_id: config.eos_token_id.unwrap_or(0),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Source tokens of `text` (without the end-of-sentence token).
    pub fn token_count(&self, text: &str) -> usize {
        self.tokenizer.tokenize(text).len()
    }

    /// The pieces a paragraph is translated in: the whole paragraph when it fits in the
    /// maximum length, else its sentences packed greedily into chunks that fit (a single
    /// sentence longer than that is a chunk of its own).
    pub fn chunks(&self, text: &str) -> Vec<String> {
        let text = text.trim();
        if text.is_empty() {
            return Vec::new();
        }
        let limit = self.opts.max_length.max(1);
        if self.token_count(text) <= limit {
            return vec![text.to_string()];
        }
        let mut out: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut current_tokens = 0;
        for sentence in text
            .split_sentence_bounds()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let n = self.token_count(sentence);
            if !current.is_empty() && current_tokens + n > limit {
                out.push(std::mem::take(&mut current));
                current_tokens = 0;
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(sentence);
            current_tokens += n;
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// Translates paragraphs: split into chunks, sorted by length, batched, rejoined.
    pub fn translate(&self, texts: &[&str]) -> Result<Translated> {
        let per_text: Vec<Vec<String>> = texts.iter().map(|t| self.chunks(t)).collect();
        let mut all: Vec<(usize, &str)> = Vec::new();
        for (i, chunks) in per_text.iter().enumerate() {
            for c in chunks {
                all.push((i, c.as_str()));
            }
        }
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by_key(|&k| all[k].1.len());
        let mut translated: Vec<String> = vec![String::new(); all.len()];
        let mut tokens = 0;
        for batch in order.chunks(self.opts.translate_batch.max(1)) {
            let inputs: Vec<&str> = batch.iter().map(|&k| all[k].1).collect();
            // tch reports some tensor errors by panicking: turn them into an error for
            // this batch (the pipeline then isolates the failing paragraph).
            let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.generator.generate_indices(Some(&inputs), None)
            }));
            let outputs = match generated {
                Ok(r) => r.map_err(|e| anyhow::anyhow!("{e}")),
                Err(p) => Err(anyhow::anyhow!(
                    "{}",
                    p.downcast_ref::<String>()
                        .map(String::as_str)
                        .or(p.downcast_ref::<&str>().copied())
                        .unwrap_or("panic")
                )),
            }
            .with_context(|| format!("translating with {}", self.id))?;
            if outputs.len() != inputs.len() {
                bail!(
                    "{}: {} translations for {} inputs",
                    self.id,
                    outputs.len(),
                    inputs.len()
                );
            }
            for (&k, out) in batch.iter().zip(outputs) {
                let ids: Vec<i64> = out
                    .indices
                    .into_iter()
                    .filter(|&t| t != self.pad_id && t != self.eos_id)
                    .collect();
                tokens += ids.len();
                translated[k] = self.tokenizer.decode(&ids, true, true).trim().to_string();
            }
        }
        let mut joined = vec![String::new(); texts.len()];
        for ((i, _), tr) in all.iter().zip(translated) {
            if tr.is_empty() {
                continue;
            }
            if !joined[*i].is_empty() {
                joined[*i].push(' ');
            }
            joined[*i].push_str(&tr);
        }
        Ok(Translated {
            texts: joined,
            tokens,
        })
    }
}

/// The [`Translator`] over the Marian folders in a models directory, each loaded lazily.
pub struct MarianTranslator {
    models_dir: PathBuf,
    opts: TranslateOptions,
    /// Loaded models, or the load error (kept so a broken folder is reported, not retried).
    loaded: HashMap<String, Result<MarianModel, String>>,
}

impl MarianTranslator {
    pub fn new(models_dir: &Path, opts: &TranslateOptions) -> MarianTranslator {
        MarianTranslator {
            models_dir: models_dir.to_path_buf(),
            opts: opts.clone(),
            loaded: HashMap::new(),
        }
    }

    /// Languages with an installed folder.
    pub fn installed_languages(models_dir: &Path) -> Vec<String> {
        let mut langs: Vec<String> = std::fs::read_dir(models_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("config.json").is_file())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let lang = name
                    .strip_prefix("opus-mt-")?
                    .strip_suffix("-en")?
                    .to_string();
                (!lang.is_empty() && !lang.contains('-')).then_some(lang)
            })
            .collect();
        langs.sort();
        langs
    }

    fn model(&mut self, lang: &str) -> Result<&MarianModel, TranslateError> {
        if !self.loaded.contains_key(lang) {
            let dir = self.models_dir.join(folder_name(lang));
            if !dir.is_dir() {
                return Err(TranslateError::MissingModel {
                    lang: lang.into(),
                    suggested: super::suggested_model(lang),
                });
            }
            tracing::info!(
                "loading the {lang}->en translation model from {}",
                dir.display()
            );
            let opts = &self.opts;
            let loaded = match std::panic::catch_unwind(|| MarianModel::load(&dir, opts)) {
                Ok(r) => r.map_err(|e| format!("{e:#}")),
                Err(_) => Err(format!(
                    "loading {} failed (see the message above)",
                    dir.display()
                )),
            };
            self.loaded.insert(lang.to_string(), loaded);
        }
        match &self.loaded[lang] {
            Ok(m) => Ok(m),
            Err(e) => Err(TranslateError::Failed(anyhow::anyhow!("{e}"))),
        }
    }
}

impl Translator for MarianTranslator {
    fn model_id(&self, lang: &str) -> Option<String> {
        self.loaded
            .get(lang)
            .and_then(|m| m.as_ref().ok())
            .map(|m| m.id().to_string())
    }

    fn translate(&mut self, lang: &str, texts: &[&str]) -> Result<Vec<String>, TranslateError> {
        if lang == "en" {
            return Ok(texts.iter().map(|t| t.to_string()).collect());
        }
        let model = self.model(lang)?;
        Ok(model.translate(texts)?.texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max_length: usize) -> TranslateOptions {
        TranslateOptions {
            beams: 1,
            max_length,
            translate_batch: 4,
        }
    }

    #[test]
    fn missing_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let err = MarianFiles::find(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("source.spm") && err.contains("vocab.json") && err.contains("weights"),
            "{err}"
        );
        assert!(!err.contains("config.json"), "{err}");
    }

    #[test]
    fn finds_installed_languages() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "opus-mt-sv-en",
            "opus-mt-fr-en",
            "opus-mt-en-de",
            "all-minilm-l6-v2",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("config.json"), "{}").unwrap();
        }
        assert_eq!(
            MarianTranslator::installed_languages(dir.path()),
            vec!["fr", "sv"]
        );
    }

    #[test]
    fn tiny_model_translates_and_splits() {
        let dir = tempfile::tempdir().unwrap();
        super::super::tiny::generate(dir.path(), "sv", 7).unwrap();
        let model = MarianModel::load(dir.path(), &opts(6)).unwrap();
        let one = "Säkerhetspolisen utreder ett fall av spionage mot företaget.";
        let two = "Regeringen har inte kommenterat uppgifterna enligt svenska medier.";
        let chunks = model.chunks(&format!("{one} {two}"));
        assert_eq!(chunks, vec![one.to_string(), two.to_string()]);
        let out = model.translate(&[one, "", two]).unwrap();
        assert_eq!(out.texts.len(), 3);
        assert!(!out.texts[0].is_empty() && out.texts[1].is_empty() && !out.texts[2].is_empty());
        // The tiny model never ends early: each chunk runs to the maximum length.
        assert!(out.tokens >= 2 * 4, "{} tokens", out.tokens);
        let joined = model.translate(&[&format!("{one} {two}")]).unwrap();
        assert_eq!(
            joined.texts[0],
            format!("{} {}", out.texts[0], out.texts[2])
        );
    }
}
