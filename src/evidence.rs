//! Evidence sentences (`veille classify --evidence`): for each label a record carries, the
//! sentence of its paragraph that the classifier scores highest for that label.
//!
//! The paragraph is split into sentences ([`sentences`]: Unicode sentence boundaries, trimmed,
//! with the boundary after common sv/en/fr abbreviations and initials undone); the pipeline
//! scores each sentence with the same encoder and heads as the paragraph, and [`pick`] keeps the
//! best sentence per carried label. Offsets are in Unicode code points (what Python's `str`
//! and Label Studio's span offsets count), so `text[start:end]` is the sentence. A paragraph
//! that is a single sentence is its own evidence with the paragraph's score (no second pass).

use crate::labels::Label;
use crate::record::Scores;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use unicode_segmentation::UnicodeSegmentation;

/// The evidence for one label.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// Code-point offsets into the record's `text`.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// The sentence's calibrated probability for the label.
    pub score: f32,
}

/// Evidence per label, serialised in taxonomy order.
pub type EvidenceMap = BTreeMap<Label, Evidence>;

/// One sentence of a paragraph: byte range (for slicing) and code-point range (for output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sentence {
    pub bytes: (usize, usize),
    pub chars: (usize, usize),
}

impl Sentence {
    pub fn text<'a>(&self, paragraph: &'a str) -> &'a str {
        &paragraph[self.bytes.0..self.bytes.1]
    }
}

/// Words that end in a full stop without ending the sentence (compared in lower case,
/// without the final dot).
const ABBREVIATIONS: &[&str] = &[
    // English
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "col", "lt", "sgt", "capt", "cmdr",
    "adm", "rep", "sen", "gov", "pres", "rev", "hon", "no", "nos", "vs", "e.g", "i.e", "approx",
    "dept", "inc", "corp", "ltd", "co", "jan", "feb", "mar", "apr", "aug", "sept", "oct", "nov",
    "dec", "u.s", "u.k", "fig", // Swedish
    "bl.a", "t.ex", "d.v.s", "dvs", "m.m", "s.k", "ca", "enl", "jfr", "resp", "kl", "fr.o.m",
    "t.o.m", "p.g.a", "pga", "osv", "mfl", "m.fl", "f.d", "ev", "nr", "tel", // French
    "m", "mm", "mme", "mmes", "mlle", "me", "pr", "av", "bd", "env", "cf", "p", "art", "éd", "ex",
    "etc", "min", "st", "ste",
];

/// True when `segment` (trimmed) ends with an abbreviation or an initial, so the boundary
/// after it is not a sentence end.
fn ends_with_abbreviation(segment: &str) -> bool {
    let Some(body) = segment.strip_suffix('.') else {
        return false;
    };
    let word = body
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '«' || c == '“')
        .next()
        .unwrap_or("");
    if word.is_empty() {
        return false;
    }
    // A single letter: an initial ("J. Smith").
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return c.is_alphabetic();
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

/// The sentences of `text`, trimmed of surrounding whitespace, in order. A text with no
/// boundary inside is one sentence; whitespace-only text has none.
pub fn sentences(text: &str) -> Vec<Sentence> {
    // Trimmed byte ranges of the Unicode sentence segments.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (start, seg) in text.split_sentence_bound_indices() {
        let lead = seg.len() - seg.trim_start().len();
        let trimmed = seg.trim();
        if trimmed.is_empty() {
            continue;
        }
        ranges.push((start + lead, start + lead + trimmed.len()));
    }
    // Undo boundaries after abbreviations, and glue fragments without a letter or digit
    // (a lone dash, a closing quote) to their neighbour.
    let mut merged: Vec<(usize, usize)> = Vec::new();
    let mut glue_next = false;
    for (s, e) in ranges {
        let seg = &text[s..e];
        let has_word = seg.chars().any(char::is_alphanumeric);
        match merged.last_mut() {
            Some(last) if glue_next || !has_word => last.1 = e,
            _ => merged.push((s, e)),
        }
        let last = *merged.last().expect("just pushed or extended");
        glue_next = ends_with_abbreviation(&text[last.0..last.1]) || !has_word;
    }
    // Code-point offsets, counted once along the text.
    let mut out = Vec::with_capacity(merged.len());
    let (mut byte, mut chars) = (0usize, 0usize);
    let mut advance = |to: usize| {
        chars += text[byte..to].chars().count();
        byte = to;
        chars
    };
    for (s, e) in merged {
        let cs = advance(s);
        let ce = advance(e);
        out.push(Sentence {
            bytes: (s, e),
            chars: (cs, ce),
        });
    }
    out
}

/// Whether the paragraph needs a pass over its sentences: more than one sentence.
pub fn needs_scoring(split: &[Sentence]) -> bool {
    split.len() > 1
}

/// The evidence for each of `labels`: the sentence with the highest score for it (the first
/// on ties). `scores[i]` are the scores of `split[i]`. With a single sentence, pass the
/// paragraph's scores.
pub fn pick(text: &str, split: &[Sentence], scores: &[Scores], labels: &[Label]) -> EvidenceMap {
    let mut out = EvidenceMap::new();
    for &label in labels {
        let best = split
            .iter()
            .zip(scores)
            .map(|(s, sc)| (s, sc.get(&label).copied().unwrap_or(0.0)))
            .fold(None, |best: Option<(&Sentence, f32)>, (s, p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((s, p)),
            });
        if let Some((s, p)) = best {
            out.insert(
                label,
                Evidence {
                    start: s.chars.0,
                    end: s.chars.1,
                    text: s.text(text).to_string(),
                    score: p,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &str) -> Vec<String> {
        sentences(t).iter().map(|s| s.text(t).to_string()).collect()
    }

    /// `text[start..end]` in code points must be the sentence.
    fn check_offsets(t: &str) {
        let chars: Vec<char> = t.chars().collect();
        for s in sentences(t) {
            let by_chars: String = chars[s.chars.0..s.chars.1].iter().collect();
            assert_eq!(by_chars, s.text(t));
        }
    }

    #[test]
    fn splits_sentences_and_keeps_abbreviations_together() {
        assert_eq!(
            texts("Mr. Smith met Dr. Jones in Oslo. They spoke for an hour."),
            [
                "Mr. Smith met Dr. Jones in Oslo.",
                "They spoke for an hour."
            ]
        );
        assert_eq!(
            texts("Säpo har bl.a. Kina i fokus. Det säger t.ex. chefen."),
            ["Säpo har bl.a. Kina i fokus.", "Det säger t.ex. chefen."]
        );
        assert_eq!(
            texts("M. Dupont a démenti. « C'est faux », dit-il."),
            ["M. Dupont a démenti.", "« C'est faux », dit-il."]
        );
        assert_eq!(
            texts("J. K. Rowling wrote it."),
            ["J. K. Rowling wrote it."]
        );
        assert_eq!(
            texts("One sentence without a stop"),
            ["One sentence without a stop"]
        );
        assert!(texts("  \n ").is_empty());
    }

    #[test]
    fn offsets_are_code_points() {
        let t = "Företaget förnekar allt. Ministern – som är på resa – kräver svar! Éclairs ça va?";
        check_offsets(t);
        let s = sentences(t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].chars, (0, 24));
        assert_eq!(s[1].chars.0, 25);
        check_offsets("  Leading space. 🙂 Emoji sentence here. Last one");
    }

    #[test]
    fn picks_the_best_sentence_per_label() {
        let t = "The firm denied it. Parliament passed a law.";
        let split = sentences(t);
        let score = |d: f32, r: f32| -> Scores {
            [(Label::CorporateDenial, d), (Label::Regulation, r)]
                .into_iter()
                .collect()
        };
        let ev = pick(
            t,
            &split,
            &[score(0.9, 0.1), score(0.2, 0.8)],
            &[Label::CorporateDenial, Label::Regulation],
        );
        let d = &ev[&Label::CorporateDenial];
        assert_eq!(
            (d.start, d.end, d.text.as_str()),
            (0, 19, "The firm denied it.")
        );
        let r = &ev[&Label::Regulation];
        assert_eq!(r.text, "Parliament passed a law.");
        assert_eq!(r.score, 0.8);
        assert_eq!(ev.len(), 2);
    }
}
