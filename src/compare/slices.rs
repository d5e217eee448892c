//! `veille compare --by lang|doc|meta.FIELD`: every metric per slice of the joined
//! paragraphs, with its support, for every file scored against the reference.
//!
//! A paragraph's slice value comes from the first file that has one (a gold file without
//! `lang` takes the model's); paragraphs with no value form the slice `(none)`, so every
//! joined paragraph is in exactly one slice. `meta.FIELD` reads the record's `meta` object,
//! else the record's own top-level field (gold JSONL), else Label Studio's `data.FIELD`.

use super::formats::{Item, LabelSet};
use super::metrics::{self, Overall};
use super::report::Keyed;
use crate::labels::Label;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The slice value of paragraphs that have none.
pub const NONE: &str = "(none)";

/// What to slice on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceBy {
    Lang,
    Doc,
    Meta(String),
}

impl FromStr for SliceBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "lang" => Ok(SliceBy::Lang),
            "doc" => Ok(SliceBy::Doc),
            other => match other.strip_prefix("meta.") {
                Some(f) if !f.is_empty() => Ok(SliceBy::Meta(f.to_string())),
                _ => Err(format!(
                    "cannot slice by {other:?} (expected lang, doc or meta.FIELD, e.g. meta.source)"
                )),
            },
        }
    }
}

impl std::fmt::Display for SliceBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SliceBy::Lang => f.write_str("lang"),
            SliceBy::Doc => f.write_str("doc"),
            SliceBy::Meta(field) => write!(f, "meta.{field}"),
        }
    }
}

impl SliceBy {
    /// The item's value for this slicing, if it has one.
    pub fn value(&self, item: &Item) -> Option<String> {
        match self {
            SliceBy::Lang => item.lang.clone(),
            SliceBy::Doc => item.doc.clone(),
            SliceBy::Meta(field) => match item.fields.get(field)? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::String(_) => None,
                other => Some(other.to_string()),
            },
        }
    }
}

/// Per-label figures within a slice.
#[derive(Debug, Clone, Serialize)]
pub struct SliceLabel {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Positives in the reference.
    pub support: u64,
    /// Positives in the scored file.
    pub predicted: u64,
}

/// Every metric of one slice (`n` is its number of paragraphs).
#[derive(Debug, Clone, Serialize)]
pub struct SliceStats {
    #[serde(flatten)]
    pub overall: Overall,
    pub per_label: Keyed<SliceLabel>,
}

/// One file scored against the reference, per slice.
#[derive(Debug, Clone, Serialize)]
pub struct SlicePair {
    pub a: String,
    pub b: String,
    pub slices: Keyed<SliceStats>,
}

/// The `slices` section of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Slices {
    pub by: String,
    /// Slice values in report order (sorted; `(none)` last) with their paragraph counts.
    pub support: Keyed<usize>,
    pub pairs: Vec<SlicePair>,
}

/// Scores every file against the first within each slice. `values[u]` is paragraph `u`'s
/// slice value, `sets[c][u]` file `c`'s label set, `names` the files' display names.
pub fn build(
    by: &SliceBy,
    values: &[Option<String>],
    sets: &[Vec<LabelSet>],
    names: &[String],
    labels: &[Label],
    bits: &[LabelSet],
) -> Slices {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (u, v) in values.iter().enumerate() {
        if let Some(v) = v {
            groups.entry(v.as_str()).or_default().push(u);
        }
    }
    let none: Vec<usize> = (0..values.len()).filter(|&u| values[u].is_none()).collect();
    let mut ordered: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    if !none.is_empty() {
        ordered.push((NONE, none));
    }
    let mut support = Keyed::default();
    for (key, idx) in &ordered {
        support.push(key, idx.len());
    }
    let pairs = (1..sets.len())
        .map(|b| {
            let mut slices = Keyed::default();
            for (key, idx) in &ordered {
                let gold: Vec<LabelSet> = idx.iter().map(|&u| sets[0][u]).collect();
                let pred: Vec<LabelSet> = idx.iter().map(|&u| sets[b][u]).collect();
                let mut per_label = Keyed::default();
                for (c, l) in metrics::confusions(&gold, &pred, bits).iter().zip(labels) {
                    per_label.push(
                        l.as_str(),
                        SliceLabel {
                            precision: c.precision(),
                            recall: c.recall(),
                            f1: c.f1(),
                            support: c.support(),
                            predicted: c.predicted(),
                        },
                    );
                }
                slices.push(
                    key,
                    SliceStats {
                        overall: metrics::overall(&gold, &pred, bits),
                        per_label,
                    },
                );
            }
            SlicePair {
                a: names[0].clone(),
                b: names[b].clone(),
                slices,
            }
        })
        .collect();
    Slices {
        by: by.to_string(),
        support,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slicings() {
        assert_eq!("lang".parse::<SliceBy>(), Ok(SliceBy::Lang));
        assert_eq!("doc".parse::<SliceBy>(), Ok(SliceBy::Doc));
        assert_eq!(
            "meta.source".parse::<SliceBy>(),
            Ok(SliceBy::Meta("source".into()))
        );
        assert!("meta.".parse::<SliceBy>().is_err());
        assert!("source".parse::<SliceBy>().is_err());
    }

    #[test]
    fn every_paragraph_is_in_one_slice() {
        let bits: Vec<LabelSet> = Label::ALL
            .iter()
            .map(|&l| super::super::formats::label_bit(l))
            .collect();
        let values = vec![
            Some("wire".to_string()),
            None,
            Some("blog".to_string()),
            Some("wire".to_string()),
        ];
        let sets = vec![vec![1, 0, 2, 1], vec![1, 0, 0, 3]];
        let s = build(
            &SliceBy::Meta("source".into()),
            &values,
            &sets,
            &["g".into(), "p".into()],
            &Label::ALL,
            &bits,
        );
        let keys: Vec<&str> = s.support.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["blog", "wire", NONE]);
        assert_eq!(s.support.iter().map(|(_, n)| n).sum::<usize>(), 4);
        let wire = s.pairs[0].slices.get("wire").unwrap();
        assert_eq!(wire.overall.n, 2);
        assert_eq!(wire.overall.exact_match, 0.5);
        assert_eq!(wire.per_label.get("espionage").unwrap().support, 2);
        assert_eq!(wire.per_label.get("espionage").unwrap().f1, 1.0);
    }
}
