//! The output record: one per input paragraph, in input order, whether it succeeded or not.
//! This schema is a contract relied on by outside scripts (see README "Output schema").

use crate::labels::Label;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-label probabilities, serialised in taxonomy order.
pub type Scores = BTreeMap<Label, f32>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: String,
    pub doc: String,
    pub para: usize,
    pub text: String,
    pub lang: String,
    pub lang_confidence: f64,
    /// The detector's best guess when `lang` is `und` (e.g. `nb`, `de`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang_guess: Option<String>,
    /// How `lang` was decided: `detected`, `document` (the document's language decided a
    /// line too short to tell) or `forced` (`--lang`); absent when nothing was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang_source: Option<crate::language::LangSource>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub scores: Scores,
    #[serde(default)]
    pub strategy: String,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// With `--evidence`: per carried label, the paragraph's sentence that scores highest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::evidence::EvidenceMap>,
    pub error: Option<String>,
}

impl Record {
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}
