//! The trained heads file and prediction with it.
//!
//! A label's logit is its embedding head's `w·x + b`, plus, when the heads file names a
//! character n-gram model ([`CharModel`], a file beside it), that model's logit for the
//! label (its weights already carry the ensemble's mixing factor). Platt calibration then
//! maps the sum to a probability.

use super::char_ngrams::CharModel;
use crate::labels::Label;
use crate::record::Scores;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of the heads file; bumped on incompatible changes.
pub const HEADS_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabelHead {
    pub label: Label,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Platt-style calibration on dev: p = sigmoid((w·x + b) * scale + shift).
    pub scale: f32,
    pub shift: f32,
    /// Decision threshold on the calibrated probability, chosen on dev for F1.
    pub threshold: f32,
}

impl LabelHead {
    /// The embedding head's own logit, before calibration.
    pub fn raw_logit(&self, x: &[f32]) -> f32 {
        self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + self.bias
    }

    /// The calibrated probability of an (ensemble) raw logit.
    pub fn calibrated(&self, raw: f32) -> f32 {
        sigmoid(raw * self.scale + self.shift)
    }

    pub fn logit(&self, x: &[f32]) -> f32 {
        self.raw_logit(x) * self.scale + self.shift
    }

    pub fn probability(&self, x: &[f32]) -> f32 {
        sigmoid(self.logit(x))
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heads {
    pub format: u32,
    /// Encoder id the embeddings came from (must match the loaded encoder).
    pub encoder: String,
    /// Prefix given to the encoder (`passage: ` for e5).
    #[serde(default)]
    pub prefix: String,
    /// Fine-tuned encoder layers (a safetensors file beside this one), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_delta: Option<String>,
    /// sha256 of the training corpus files (sorted, concatenated).
    pub corpus_sha256: String,
    /// Free-form training settings and dev/test figures, for provenance.
    pub settings: serde_json::Value,
    pub heads: Vec<LabelHead>,
    /// The character n-gram model of the ensemble (a safetensors file beside this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub char_ngrams: Option<String>,
    /// That model, loaded with the heads.
    #[serde(skip)]
    pub char_model: Option<std::sync::Arc<CharModel>>,
}

impl Heads {
    pub fn load(path: &Path) -> Result<Heads> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read classifier heads {}", path.display()))?;
        let heads: Heads = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid heads file", path.display()))?;
        if heads.format != HEADS_FORMAT {
            bail!(
                "{}: heads format {} (this veille reads {HEADS_FORMAT})",
                path.display(),
                heads.format
            );
        }
        for l in Label::ALL {
            if !heads.heads.iter().any(|h| h.label == l) {
                bail!("{}: no head for label {l}", path.display());
            }
        }
        let mut heads = heads;
        if let Some(name) = &heads.char_ngrams {
            let file = path.parent().unwrap_or(Path::new(".")).join(name);
            heads.char_model = Some(std::sync::Arc::new(CharModel::load(&file).with_context(
                || format!("{}: loading its character n-gram model", path.display()),
            )?));
        }
        let dims: Vec<usize> = heads.heads.iter().map(|h| h.weights.len()).collect();
        if dims.windows(2).any(|w| w[0] != w[1]) {
            bail!("{}: heads of different dimensions {dims:?}", path.display());
        }
        Ok(heads)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn dim(&self) -> usize {
        self.heads.first().map(|h| h.weights.len()).unwrap_or(0)
    }

    /// Short id for records: the file's content hash (and its n-gram model's weights').
    pub fn short_id(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        if let Some(m) = &self.char_model {
            for w in m.weights.iter().chain([&m.bias, &m.idf]) {
                for x in w {
                    h.update(x.to_le_bytes());
                }
            }
        }
        hex::encode(&h.finalize()[..4])
    }

    /// Calibrated scores and the labels over their thresholds, for the embedding `x` of
    /// `text` (the text the encoder read: the translation under the translate strategy).
    pub fn predict(&self, x: &[f32], text: &str) -> (Scores, Vec<Label>) {
        let char_logits = self.char_model.as_ref().map(|m| m.logits(text));
        let mut scores = Scores::new();
        let mut labels = Vec::new();
        for l in Label::ALL {
            let head = self
                .heads
                .iter()
                .find(|h| h.label == l)
                .expect("checked at load");
            let extra = char_logits.map_or(0.0, |c| c[l.index()]);
            let p = head.calibrated(head.raw_logit(x) + extra);
            scores.insert(l, p);
            if p >= head.threshold {
                labels.push(l);
            }
        }
        (scores, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads() -> Heads {
        Heads {
            format: HEADS_FORMAT,
            encoder: "tiny".into(),
            prefix: String::new(),
            encoder_delta: None,
            corpus_sha256: "x".into(),
            settings: serde_json::json!({}),
            char_ngrams: None,
            char_model: None,
            heads: Label::ALL
                .iter()
                .enumerate()
                .map(|(i, &label)| LabelHead {
                    label,
                    weights: (0..4).map(|j| if i == j { 4.0 } else { 0.0 }).collect(),
                    bias: -2.0,
                    scale: 1.0,
                    shift: 0.0,
                    threshold: 0.5,
                })
                .collect(),
        }
    }

    #[test]
    fn predicts_labels_over_threshold_in_taxonomy_order() {
        let (scores, labels) = heads().predict(&[1.0, 0.0, 0.0, 1.0], "");
        assert_eq!(labels, vec![Label::Espionage, Label::Regulation]);
        assert!((scores[&Label::Espionage] - sigmoid(2.0)).abs() < 1e-6);
        assert!((scores[&Label::CorporateDenial] - sigmoid(-2.0)).abs() < 1e-6);
    }

    #[test]
    fn save_load_round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.json");
        let h = heads();
        h.save(&p).unwrap();
        assert_eq!(Heads::load(&p).unwrap(), h);
        let mut broken = h.clone();
        broken.heads.pop();
        broken.save(&p).unwrap();
        let e = Heads::load(&p).unwrap_err().to_string();
        assert!(e.contains("no head for label regulation"), "{e}");
    }
}
