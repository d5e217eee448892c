//! Labelled corpora (`corpora/labelled/*.jsonl`): one paragraph per line with `id`, `doc`,
//! `event`, `lang`, `split`, `genre`, `text` and `labels`. Reading, statistics, and the
//! mix the corpus must keep (checked by a test and printed by `veille stats`).

use crate::labels::Label;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LabelledParagraph {
    pub id: String,
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub event: String,
    pub lang: String,
    #[serde(default)]
    pub split: String,
    #[serde(default)]
    pub genre: String,
    pub text: String,
    pub labels: Vec<Label>,
}

/// The JSONL files under the given paths (folders walked, sorted).
pub fn corpus_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    crate::ingest::expand_paths(paths)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect()
}

/// Reads every paragraph; a malformed line is an error naming file and line.
pub fn load(paths: &[PathBuf]) -> Result<Vec<LabelledParagraph>> {
    let files = corpus_files(paths);
    if files.is_empty() {
        bail!("no .jsonl corpus files in {paths:?}");
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let p: LabelledParagraph = serde_json::from_str(line).with_context(|| {
                format!("{}:{}: not a labelled paragraph", file.display(), i + 1)
            })?;
            if !seen.insert(p.id.clone()) {
                bail!("{}:{}: duplicate id {}", file.display(), i + 1, p.id);
            }
            out.push(p);
        }
    }
    Ok(out)
}

/// sha256 over the corpus files' bytes (sorted by path), recorded in trained heads.
pub fn hash(paths: &[PathBuf]) -> Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for f in corpus_files(paths) {
        h.update(std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
    }
    Ok(hex::encode(h.finalize()))
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Counts by language, label and split, and what the mix rules say about them.
#[derive(Debug, Default)]
pub struct Stats {
    pub total: usize,
    pub by_lang: BTreeMap<String, usize>,
    pub label_by_lang: BTreeMap<(String, String), usize>,
    pub by_split: BTreeMap<String, usize>,
    pub label_by_split: BTreeMap<(String, String), usize>,
    pub none: usize,
    pub multi: usize,
    pub short: usize,
    pub long: usize,
    pub min_words: usize,
    pub max_words: usize,
    pub docs: usize,
    pub genres: BTreeMap<String, usize>,
}

pub fn stats(paras: &[LabelledParagraph]) -> Stats {
    let mut s = Stats {
        min_words: usize::MAX,
        ..Default::default()
    };
    let mut docs = BTreeSet::new();
    for p in paras {
        s.total += 1;
        *s.by_lang.entry(p.lang.clone()).or_default() += 1;
        *s.by_split.entry(p.split.clone()).or_default() += 1;
        *s.genres.entry(p.genre.clone()).or_default() += 1;
        docs.insert(p.doc.clone());
        let names: Vec<String> = if p.labels.is_empty() {
            vec!["(none)".into()]
        } else {
            p.labels.iter().map(|l| l.to_string()).collect()
        };
        for n in names {
            *s.label_by_lang
                .entry((p.lang.clone(), n.clone()))
                .or_default() += 1;
            *s.label_by_split.entry((p.split.clone(), n)).or_default() += 1;
        }
        s.none += p.labels.is_empty() as usize;
        s.multi += (p.labels.len() > 1) as usize;
        let w = words(&p.text);
        s.short += (w < 15) as usize;
        s.long += (w >= 120) as usize;
        s.min_words = s.min_words.min(w);
        s.max_words = s.max_words.max(w);
    }
    s.docs = docs.len();
    s
}

impl Stats {
    pub fn label_total(&self, label: &str) -> usize {
        self.label_by_lang
            .iter()
            .filter(|((_, l), _)| l == label)
            .map(|(_, n)| n)
            .sum()
    }

    /// Violations of the corpus mix (issue 4): empty when the corpus is fit.
    pub fn mix_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.total < 1800 {
            out.push(format!("{} paragraphs, want >= 1800", self.total));
        }
        for lang in crate::language::SUPPORTED {
            let n = self.by_lang.get(lang).copied().unwrap_or(0);
            if n < 600 {
                out.push(format!("{n} {lang} paragraphs, want >= 600"));
            }
        }
        for l in Label::ALL {
            let n = self.label_total(l.as_str());
            if n < 300 {
                out.push(format!("{l}: {n} paragraphs, want >= 300"));
            }
        }
        if self.none * 4 < self.total {
            out.push(format!("{} without label, want >= 25%", self.none));
        }
        if self.multi * 100 < self.total * 12 {
            out.push(format!("{} multi-label, want >= 12%", self.multi));
        }
        for split in ["train", "dev", "test"] {
            if !self.by_split.contains_key(split) {
                out.push(format!("no {split} split"));
            }
        }
        out
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "{} paragraphs in {} documents; {} without label ({:.1}%), {} multi-label ({:.1}%); {}-{} words, {} under 15, {} of 120+\n\n",
            self.total,
            self.docs,
            self.none,
            pct(self.none, self.total),
            self.multi,
            pct(self.multi, self.total),
            self.min_words,
            self.max_words,
            self.short,
            self.long
        );
        let mut cols: Vec<String> = Label::ALL.iter().map(|l| l.to_string()).collect();
        cols.push("(none)".into());
        s.push_str(&format!("{:<8}{:>8}", "lang", "total"));
        for c in &cols {
            s.push_str(&format!("{c:>21}"));
        }
        s.push('\n');
        for (lang, n) in &self.by_lang {
            s.push_str(&format!("{lang:<8}{n:>8}"));
            for c in &cols {
                s.push_str(&format!(
                    "{:>21}",
                    self.label_by_lang
                        .get(&(lang.clone(), c.clone()))
                        .unwrap_or(&0)
                ));
            }
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&format!("{:<8}{:>8}\n", "split", "total"));
        for (split, n) in &self.by_split {
            s.push_str(&format!("{split:<8}{n:>8}"));
            for c in &cols {
                s.push_str(&format!(
                    "{:>21}",
                    self.label_by_split
                        .get(&(split.clone(), c.clone()))
                        .unwrap_or(&0)
                ));
            }
            s.push('\n');
        }
        s.push_str(&format!("\ngenres: {:?}\n", self.genres));
        let problems = self.mix_problems();
        if problems.is_empty() {
            s.push_str("mix: ok\n");
        } else {
            s.push_str(&format!(
                "mix: {} problem(s):\n  {}\n",
                problems.len(),
                problems.join("\n  ")
            ));
        }
        s
    }
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

/// Events must not cross splits (no two tellings of one event in train and test).
pub fn split_leaks(paras: &[LabelledParagraph]) -> Vec<String> {
    let mut split_of: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for p in paras {
        let key = (
            p.lang.as_str(),
            if p.event.is_empty() {
                p.doc.as_str()
            } else {
                p.event.as_str()
            },
        );
        split_of.entry(key).or_default().insert(p.split.as_str());
    }
    split_of
        .into_iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|((lang, e), s)| format!("{lang} event {e} is in splits {s:?}"))
        .collect()
}
