//! The provenance manifest written beside every `-o` file, `<file>.manifest.json`: which
//! veille, command line, inputs (size, SHA-256), models and heads made the file, what it
//! holds (records, errors, per label) and how long it took.
//!
//! It is written when the run starts (`"complete": false`) and rewritten at the end, each
//! time to a temporary file renamed over the old one, so a killed run leaves a whole
//! manifest that `--resume` can check against the models it is about to use.

use crate::labels::Label;
use crate::record::Record;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One input file: `-` (stdin) has no size or hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    pub path: String,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
}

/// What labels the records: compared by `--resume` (see [`Models::same_as`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Models {
    /// `embed`, `translate` or `detect`.
    pub strategy: String,
    /// The records' `model` field (encoder, heads short id, language detector).
    pub model_id: String,
    /// SHA-256 of the heads file and of the fine-tuned encoder layers it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_delta_sha256: Option<String>,
}

impl Models {
    /// Why records made with `self` and with `other` must not share one file, if they must not.
    pub fn mismatch(&self, other: &Models) -> Option<String> {
        let fields = [
            ("strategy", &self.strategy, &other.strategy),
            ("model", &self.model_id, &other.model_id),
        ];
        for (what, a, b) in fields {
            if a != b {
                return Some(format!("{what} {a:?} (file) vs {b:?} (now)"));
            }
        }
        let hashes = [
            ("heads", &self.heads_sha256, &other.heads_sha256),
            (
                "fine-tuned encoder layers",
                &self.encoder_delta_sha256,
                &other.encoder_delta_sha256,
            ),
        ];
        for (what, a, b) in hashes {
            if a != b {
                return Some(format!(
                    "{what} sha256 {} (file) vs {} (now)",
                    a.as_deref().unwrap_or("none"),
                    b.as_deref().unwrap_or("none")
                ));
            }
        }
        None
    }
}

/// Records, error records and records per label in an output file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Counts {
    pub records: usize,
    pub errors: usize,
    pub labels: BTreeMap<String, usize>,
}

impl Counts {
    pub fn new() -> Self {
        Counts {
            labels: Label::ALL.iter().map(|l| (l.to_string(), 0)).collect(),
            ..Default::default()
        }
    }

    pub fn add(&mut self, r: &Record) {
        self.add_parts(r.is_error(), r.labels.iter().map(|l| l.as_str()));
    }

    pub fn add_parts<'a>(&mut self, error: bool, labels: impl IntoIterator<Item = &'a str>) {
        self.records += 1;
        self.errors += error as usize;
        for l in labels {
            *self.labels.entry(l.to_string()).or_default() += 1;
        }
    }
}

/// How the file was written: `--resume` refuses to mix settings in one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputSettings {
    pub format: String,
    pub csv_raw: bool,
    pub shard: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub veille_version: String,
    pub command_line: Vec<String>,
    pub output: String,
    pub settings: OutputSettings,
    pub inputs: Vec<InputFile>,
    pub models: Models,
    /// Everything in the file, including records kept from earlier (resumed) runs.
    pub counts: Counts,
    /// Records this file held when this run started (`--resume`), else 0.
    pub resumed_records: usize,
    pub started: String,
    pub finished: Option<String>,
    /// Wall time and rate of this run (the records it wrote, not those it resumed past).
    pub seconds: Option<f64>,
    pub paragraphs_per_second: Option<f64>,
    pub complete: bool,
}

/// `out.jsonl` -> `out.jsonl.manifest.json`.
pub fn manifest_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".manifest.json");
    output.with_file_name(name)
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a veille manifest", path.display()))
    }

    /// Writes to `<path>.tmp`, then renames it over `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tmp = path.as_os_str().to_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Size and SHA-256 of each input (stdin: neither).
pub fn describe_inputs(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    paths
        .iter()
        .map(|p| {
            let path = p.display().to_string();
            if path == "-" {
                return Ok(InputFile {
                    path,
                    bytes: None,
                    sha256: None,
                });
            }
            // An unreadable input becomes error records later; here it has no hash.
            Ok(match hash_file(p) {
                Ok((bytes, sha)) => InputFile {
                    path,
                    bytes: Some(bytes),
                    sha256: Some(sha),
                },
                Err(_) => InputFile {
                    path,
                    bytes: None,
                    sha256: None,
                },
            })
        })
        .collect()
}

/// Byte count and hex SHA-256 of a file, read in pieces.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// A UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date, by 400-year eras
/// (146,097 days each) counted from 0000-03-01 so that leap days end a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |s: u64| utc_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
    }

    #[test]
    fn manifest_sits_beside_the_output() {
        assert_eq!(
            manifest_path(Path::new("out/run.jsonl")),
            PathBuf::from("out/run.jsonl.manifest.json")
        );
    }

    #[test]
    fn models_mismatch_names_what_differs() {
        let a = Models {
            strategy: "embed".into(),
            model_id: "e5 heads:1".into(),
            heads_sha256: Some("aa".into()),
            encoder_delta_sha256: None,
        };
        assert_eq!(a.mismatch(&a.clone()), None);
        let mut b = a.clone();
        b.heads_sha256 = Some("bb".into());
        assert!(a.mismatch(&b).unwrap().contains("heads sha256 aa"));
        let mut c = a.clone();
        c.model_id = "other".into();
        assert!(a.mismatch(&c).unwrap().starts_with("model"));
    }
}
