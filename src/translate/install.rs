//! `veille models add PATH`: checks a user-supplied Marian folder (e.g. Helsinki-NLP
//! opus-mt-sv-en) and installs it as `models/opus-mt-<lang>-en/`, recorded in
//! `models/manifest.json`.
//!
//! Checks, each with an error that says what is wrong and where: every file present;
//! `config.json` readable as a Marian config; `vocab.json` has `</s>`, `<unk>`, `<pad>`,
//! ids below `vocab_size`, and the config's eos/pad ids; both SentencePiece files parse and
//! `source.spm` belongs with `vocab.json`; every weight the config implies is in the weights
//! file with the shape the config implies, and no extra layers are there. The weights are
//! normalised into `model.safetensors` holding exactly the variables rust-bert's Marian
//! reads: tied embeddings found under any of their Hugging Face names, sinusoidal position
//! tables and `final_logits_bias` filled in when an export left them out.

use super::marian::{folder_name, MarianFiles};
use crate::models::manifest::{hash_dir, sha256_file, Manifest, ModelEntry, Source};
use anyhow::{bail, Context, Result};
use rust_bert::marian::{MarianConfig, MarianForConditionalGeneration};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// The source language of a model: `--lang`, else `opus-mt-<lang>-en` in the folder name
/// or in the config's `_name_or_path`.
pub fn infer_lang(explicit: Option<&str>, names: &[&str]) -> Result<String> {
    let lang = match explicit {
        Some(l) => l.to_string(),
        None => names
            .iter()
            .find_map(|n| {
                let rest = &n[n.find("opus-mt-")? + "opus-mt-".len()..];
                let lang = rest.strip_suffix("-en").or_else(|| rest.split_once("-en/").map(|(l, _)| l))?;
                Some(lang.to_string())
            })
            .with_context(|| {
                format!("cannot tell the source language from {names:?} (expected opus-mt-<lang>-en): pass --lang")
            })?,
    };
    if !(2..=3).contains(&lang.len()) || !lang.chars().all(|c| c.is_ascii_lowercase()) {
        bail!("{lang:?} is not a language code (two or three lowercase letters, e.g. sv, fr)");
    }
    Ok(lang)
}

/// Fills in the keys that a Hugging Face Marian `config.json` may leave to the `MarianConfig`
/// defaults but rust-bert's BART-style reader would otherwise default differently (Marian
/// has sinusoidal positions and no embedding layer norm); returns the keys filled in.
pub fn normalise_config(raw: &mut serde_json::Value) -> Vec<String> {
    let Some(obj) = raw.as_object_mut() else {
        return Vec::new();
    };
    let layers = obj.get("encoder_layers").cloned().unwrap_or(6.into());
    let defaults: [(&str, serde_json::Value); 11] = [
        ("static_position_embeddings", true.into()),
        ("normalize_embedding", false.into()),
        ("scale_embedding", false.into()),
        ("activation_function", "gelu".into()),
        ("num_hidden_layers", layers),
        ("init_std", 0.02.into()),
        ("dropout", 0.1.into()),
        ("attention_dropout", 0.0.into()),
        ("activation_dropout", 0.0.into()),
        ("encoder_layerdrop", 0.0.into()),
        ("decoder_layerdrop", 0.0.into()),
    ];
    let mut filled = Vec::new();
    for (key, value) in defaults {
        if !obj.contains_key(key) {
            obj.insert(key.to_string(), value);
            filled.push(key.to_string());
        }
    }
    filled
}

/// Checks `vocab.json` against the config; returns its entries.
fn check_vocab(path: &Path, config: &MarianConfig) -> Result<HashMap<String, i64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let vocab: HashMap<String, i64> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a token -> id JSON object", path.display()))?;
    for special in ["</s>", "<unk>", "<pad>"] {
        if !vocab.contains_key(special) {
            bail!("{} has no {special} token", path.display());
        }
    }
    let max = vocab.values().copied().max().unwrap_or(-1);
    if max >= config.vocab_size || vocab.values().any(|&v| v < 0) {
        bail!(
            "vocabulary size mismatch: {} has {} entries with ids up to {max}, but config.json says vocab_size {}",
            path.display(),
            vocab.len(),
            config.vocab_size
        );
    }
    if (vocab.len() as i64) < config.vocab_size {
        tracing::warn!(
            "{}: {} entries for vocab_size {}",
            path.display(),
            vocab.len(),
            config.vocab_size
        );
    }
    let eos = config.eos_token_id.unwrap_or(0);
    if vocab["</s>"] != eos {
        bail!(
            "{}: </s> is id {}, but config.json says eos_token_id {eos}",
            path.display(),
            vocab["</s>"]
        );
    }
    if let Some(pad) = config.pad_token_id {
        if vocab["<pad>"] != pad {
            bail!(
                "{}: <pad> is id {}, but config.json says pad_token_id {pad}",
                path.display(),
                vocab["<pad>"]
            );
        }
    }
    Ok(vocab)
}

/// Checks that a SentencePiece file parses; with `vocab`, that it belongs to it.
fn check_spm(path: &Path, vocab: Option<&HashMap<String, i64>>) -> Result<usize> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let pieces = super::tiny::read_spm_pieces(&bytes)
        .with_context(|| format!("{} is not a SentencePiece model", path.display()))?;
    if pieces.is_empty() {
        bail!(
            "{} is not a SentencePiece model (no pieces)",
            path.display()
        );
    }
    if let Some(vocab) = vocab {
        let known = pieces.iter().filter(|p| vocab.contains_key(*p)).count();
        if known * 2 < pieces.len() {
            bail!(
                "{} and vocab.json do not belong together: only {known} of its {} pieces are in the vocabulary",
                path.display(),
                pieces.len()
            );
        }
    }
    Ok(pieces.len())
}

/// Reads named tensors from a `.safetensors` or libtorch `.ot` file.
fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let named = if path.extension().is_some_and(|e| e == "safetensors") {
        Tensor::read_safetensors(path)
    } else {
        Tensor::load_multi(path)
    }
    .with_context(|| format!("reading the weights {}", path.display()))?;
    Ok(named.into_iter().collect())
}

/// Names a Hugging Face export may use for a rust-bert variable.
fn aliases(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    if name == "model.shared.weight" {
        out.extend(
            [
                "model.encoder.embed_tokens.weight",
                "model.decoder.embed_tokens.weight",
                "lm_head.weight",
            ]
            .map(String::from),
        );
    }
    out.push(format!("model.{name}"));
    if let Some(rest) = name.strip_prefix("model.") {
        out.push(rest.to_string());
    }
    out
}

/// Loads `weights` into a VarStore built from `config`, checking names and shapes.
/// Returns the VarStore (to save normalised) and the names that were filled in.
pub fn load_checked(weights: &Path, config: &MarianConfig) -> Result<(nn::VarStore, Vec<String>)> {
    let file = read_tensors(weights)?;
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = MarianForConditionalGeneration::new(vs.root(), config);
    let mut missing = Vec::new();
    let mut bad_shapes = Vec::new();
    let mut filled = Vec::new();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars.iter_mut() {
            let want = var.size();
            match aliases(name).iter().find_map(|a| file.get(a)) {
                Some(t) if t.size() != want => bad_shapes.push(format!(
                    "{name}: the file has {:?}, config.json implies {want:?}",
                    t.size()
                )),
                Some(t) => var.copy_(&t.to_kind(Kind::Float)),
                None if name.ends_with("embed_positions.weight") => {
                    var.copy_(&super::tiny::sinusoidal(want[0], want[1]));
                    filled.push(name.clone());
                }
                None if name == "final_logits_bias" => {
                    var.copy_(&Tensor::zeros(want.as_slice(), (Kind::Float, Device::Cpu)));
                    filled.push(name.clone());
                }
                None => missing.push(name.clone()),
            }
        }
        Ok(())
    })?;
    let mut extra_layers = Vec::new();
    for (side, n) in [
        ("encoder", config.encoder_layers),
        ("decoder", config.decoder_layers),
    ] {
        let prefix = format!("model.{side}.layers.");
        let max = file
            .keys()
            .filter_map(|k| {
                k.strip_prefix(&prefix)?
                    .split('.')
                    .next()?
                    .parse::<i64>()
                    .ok()
            })
            .max();
        if let Some(max) = max.filter(|&m| m >= n) {
            extra_layers.push(format!(
                "the weights have {} {side} layers, config.json says {n}",
                max + 1
            ));
        }
    }
    let mut problems = Vec::new();
    if !bad_shapes.is_empty() {
        problems.push(format!(
            "tensor shapes do not match config.json:\n  {}",
            bad_shapes.join("\n  ")
        ));
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(8).map(String::as_str).collect();
        problems.push(format!(
            "{} tensors missing from the weights{}:\n  {}",
            missing.len(),
            if missing.len() > shown.len() {
                " (first 8)"
            } else {
                ""
            },
            shown.join("\n  ")
        ));
    }
    problems.extend(extra_layers);
    if !problems.is_empty() {
        bail!(
            "{} does not fit {}:\n{}",
            weights.display(),
            "config.json",
            problems.join("\n")
        );
    }
    Ok((vs, filled))
}

/// Checks the folder at `path` and installs it into `models_dir`; returns the installed
/// folder name. `source` overrides the manifest's provenance (used by `models fetch`).
pub fn add(
    path: &Path,
    lang: Option<&str>,
    models_dir: &Path,
    force: bool,
    source: Option<(Source, String)>,
) -> Result<String> {
    let files = MarianFiles::find(path)?;
    let text = std::fs::read_to_string(&files.config)
        .with_context(|| format!("reading {}", files.config.display()))?;
    let mut raw: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", files.config.display()))?;
    let defaulted = normalise_config(&mut raw);
    if !defaulted.is_empty() {
        tracing::info!(
            "{}: filled in Marian defaults for {}",
            files.config.display(),
            defaulted.join(", ")
        );
    }
    let config: MarianConfig = serde_json::from_value(raw.clone()).with_context(|| {
        format!(
            "{} is not a Marian (BART-style) config",
            files.config.display()
        )
    })?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let folder_str = abs.to_string_lossy().into_owned();
    let name_or_path = raw
        .get("_name_or_path")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let lang = infer_lang(lang, &[&folder_str, &name_or_path])?;
    let vocab = check_vocab(&files.vocab, &config)?;
    check_spm(&files.source_spm, Some(&vocab))?;
    check_spm(&files.target_spm, None)?;
    let (vs, filled) = load_checked(&files.weights, &config)?;
    if !filled.is_empty() {
        tracing::info!("filled in {} (not in the weights file)", filled.join(", "));
    }
    let folder = folder_name(&lang);
    let target = models_dir.join(&folder);
    if target.exists() && !force {
        bail!(
            "{} is already installed: pass --force to replace it",
            target.display()
        );
    }
    std::fs::create_dir_all(models_dir)
        .with_context(|| format!("creating {}", models_dir.display()))?;
    let staging = models_dir.join(format!(".{folder}.staging"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let config_out = staging.join("config.json");
    std::fs::write(&config_out, serde_json::to_string_pretty(&raw)? + "\n")
        .with_context(|| format!("writing {}", config_out.display()))?;
    for (from, name) in [
        (&files.source_spm, "source.spm"),
        (&files.target_spm, "target.spm"),
        (&files.vocab, "vocab.json"),
    ] {
        std::fs::copy(from, staging.join(name))
            .with_context(|| format!("copying {} into {}", from.display(), staging.display()))?;
    }
    let weights_out = staging.join("model.safetensors");
    vs.save(&weights_out)
        .with_context(|| format!("writing {}", weights_out.display()))?;
    let weights_sha = sha256_file(&files.weights)?;
    let (source, id) = source.unwrap_or_else(|| {
        (
            Source {
                origin: format!("local:{folder_str}"),
                file: files
                    .weights
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned()),
                sha256: Some(weights_sha.clone()),
                how: "veille models add: checked; weights normalised to model.safetensors".into(),
            },
            format!("{folder}@{}", &weights_sha[..12]),
        )
    });
    let meta =
        serde_json::json!({ "id": id, "lang": lang, "kind": "marian", "origin": source.origin });
    std::fs::write(
        staging.join("veille.json"),
        serde_json::to_string_pretty(&meta)? + "\n",
    )?;
    let hashes = hash_dir(&staging)?;
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("removing the old {}", target.display()))?;
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("moving the model into {}", target.display()))?;
    let manifest_path = models_dir.join("manifest.json");
    let mut manifest = Manifest::load(&manifest_path)?;
    manifest.models.insert(
        folder.clone(),
        ModelEntry {
            id,
            dir: folder.clone(),
            source,
            licence: "as supplied by the user (Helsinki-NLP opus-mt models: CC-BY-4.0)".into(),
            files: hashes,
        },
    );
    manifest.save(&manifest_path)?;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_names() {
        assert_eq!(
            infer_lang(None, &["/tmp/x/opus-mt-sv-en", ""]).unwrap(),
            "sv"
        );
        assert_eq!(
            infer_lang(None, &["/tmp/x/model", "Helsinki-NLP/opus-mt-fr-en"]).unwrap(),
            "fr"
        );
        assert_eq!(infer_lang(Some("fr"), &["whatever"]).unwrap(), "fr");
        assert!(infer_lang(None, &["/tmp/model", ""])
            .unwrap_err()
            .to_string()
            .contains("--lang"));
        assert!(infer_lang(Some("French"), &[]).is_err());
    }

    #[test]
    fn a_sparse_config_gets_marian_defaults() {
        let mut c = serde_json::json!({"d_model": 16, "encoder_layers": 2, "static_position_embeddings": true});
        let filled = normalise_config(&mut c);
        assert!(filled.contains(&"normalize_embedding".to_string()));
        assert!(!filled.contains(&"static_position_embeddings".to_string()));
        assert_eq!(c["num_hidden_layers"], 2);
        assert_eq!(c["normalize_embedding"], false);
    }

    #[test]
    fn adds_libtorch_weights_and_a_config_without_marian_keys() {
        let src = tempfile::tempdir().unwrap();
        let models = tempfile::tempdir().unwrap();
        super::super::tiny::generate(src.path(), "sv", 5).unwrap();
        let cfg_path = src.path().join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
        for key in [
            "static_position_embeddings",
            "normalize_embedding",
            "num_hidden_layers",
        ] {
            cfg.as_object_mut().unwrap().remove(key);
        }
        std::fs::write(&cfg_path, cfg.to_string()).unwrap();
        let config = super::super::marian::read_config(&cfg_path);
        assert!(
            config.is_err(),
            "num_hidden_layers is required by rust-bert's reader"
        );
        let mut full = cfg.clone();
        normalise_config(&mut full);
        let (vs, _) = load_checked(
            &src.path().join("model.safetensors"),
            &serde_json::from_value(full).unwrap(),
        )
        .unwrap();
        vs.save(src.path().join("rust_model.ot")).unwrap();
        std::fs::remove_file(src.path().join("model.safetensors")).unwrap();
        add(src.path(), Some("sv"), models.path(), false, None).unwrap();
        let installed = models.path().join("opus-mt-sv-en");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(installed.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(written["static_position_embeddings"], true);
        let opts = super::super::TranslateOptions {
            beams: 2,
            max_length: 6,
            translate_batch: 2,
        };
        let model = super::super::marian::MarianModel::load(&installed, &opts).unwrap();
        assert!(model.id().starts_with("opus-mt-sv-en@"));
        let out = model
            .translate(&["Regeringen har inte kommenterat uppgifterna."])
            .unwrap();
        assert!(!out.texts[0].is_empty());
    }

    #[test]
    fn adds_a_tiny_model_and_rejects_wrong_shapes() {
        let src = tempfile::tempdir().unwrap();
        let models = tempfile::tempdir().unwrap();
        super::super::tiny::generate(src.path(), "fr", 3).unwrap();
        let name = add(src.path(), Some("fr"), models.path(), false, None).unwrap();
        assert_eq!(name, "opus-mt-fr-en");
        let m = Manifest::load(&models.path().join("manifest.json")).unwrap();
        assert!(m.models["opus-mt-fr-en"]
            .files
            .contains_key("model.safetensors"));
        assert!(add(src.path(), Some("fr"), models.path(), false, None)
            .unwrap_err()
            .to_string()
            .contains("--force"));
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(src.path().join("config.json")).unwrap())
                .unwrap();
        cfg["encoder_ffn_dim"] = serde_json::json!(64);
        std::fs::write(src.path().join("config.json"), cfg.to_string()).unwrap();
        let err = format!(
            "{:#}",
            add(src.path(), Some("fr"), models.path(), true, None).unwrap_err()
        );
        assert!(err.contains("shapes") && err.contains("fc1"), "{err}");
    }
}
