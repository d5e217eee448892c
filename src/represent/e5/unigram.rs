//! A compact Unigram segmenter for the e5 vocabulary: the pieces in an `fst` map (a few
//! MB) and one Viterbi pass over the normalised text.
//!
//! Why not `tokenizers`' own Unigram model: it keeps the 250,002 pieces in a trie of
//! hash maps, which cost about 220 MB of memory and a second of start-up on every run
//! (measured on this project's e5 folder), more than the int8 encoder itself. The file
//! format stays the standard `tokenizer.json` (`tokenizers` still writes it at
//! conversion and reads it in tests that check this segmenter against it).
//!
//! The lattice follows the Unigram model's usual rules: every vocabulary piece that
//! starts at a character boundary is an edge scored by its log-probability; a character
//! no single-character piece covers gets an `<unk>` edge scored `min_score - 10`; the
//! best path wins, and on equal scores the edge found first (earlier start, then shorter
//! piece) is kept. Unknown characters are not fused: one `<unk>` per character, as the
//! e5 engine does.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use fst::raw::{Fst, Output};

/// Score penalty below the lowest piece score for an unknown character.
const UNKNOWN_PENALTY: f64 = 10.0;

/// The Unigram model: pieces -> ids in an FST, scores by id.
pub struct Unigram {
    pieces: fst::Map<Vec<u8>>,
    scores: Vec<f64>,
    unk: u32,
    unk_score: f64,
}

#[derive(serde::Deserialize)]
struct TokenizerFile {
    model: ModelSection,
}

#[derive(serde::Deserialize)]
struct ModelSection {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<u32>,
    vocab: Vec<(String, f64)>,
}

impl Unigram {
    /// Reads the Unigram model of a `tokenizer.json` file.
    pub fn load(path: &Path) -> Result<Unigram> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_tokenizer_json(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the `model` section of a `tokenizer.json` document (type `Unigram`).
    pub fn from_tokenizer_json(text: &str) -> Result<Unigram> {
        let file: TokenizerFile = serde_json::from_str(text)?;
        let m = file.model;
        if m.kind != "Unigram" {
            bail!("the tokenizer model is {:?}, not Unigram", m.kind);
        }
        let unk = m
            .unk_id
            .ok_or_else(|| anyhow!("the Unigram model has no unk_id"))?;
        Self::new(m.vocab, unk)
    }

    /// Builds from `(piece, log-probability)` pairs, ids in order.
    pub fn new(vocab: Vec<(String, f64)>, unk: u32) -> Result<Unigram> {
        if unk as usize >= vocab.len() {
            bail!(
                "unk_id {unk} is outside the vocabulary ({} pieces)",
                vocab.len()
            );
        }
        let min_score = vocab.iter().map(|(_, s)| *s).fold(f64::INFINITY, f64::min);
        let mut keyed: Vec<(&str, u64)> = vocab
            .iter()
            .enumerate()
            .map(|(id, (p, _))| (p.as_str(), id as u64))
            .collect();
        // Sorted by bytes; a piece listed twice keeps its last id.
        keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
        keyed.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        let pieces = fst::Map::from_iter(keyed.into_iter().filter(|(p, _)| !p.is_empty()))
            .context("building the piece map")?;
        Ok(Unigram {
            pieces,
            scores: vocab.into_iter().map(|(_, s)| s).collect(),
            unk,
            unk_score: min_score - UNKNOWN_PENALTY,
        })
    }

    /// The id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The id of a piece, if the vocabulary has it.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        self.pieces.get(piece).map(|id| id as u32)
    }

    /// Calls `found(end, id)` for every piece that is a prefix of `bytes` (ends in bytes).
    fn prefixes(&self, bytes: &[u8], mut found: impl FnMut(usize, u32)) {
        let fst: &Fst<Vec<u8>> = self.pieces.as_fst();
        let mut node = fst.root();
        let mut out = Output::zero();
        for (i, &b) in bytes.iter().enumerate() {
            let Some(t) = node.find_input(b) else { return };
            let tr = node.transition(t);
            out = out.cat(tr.out);
            node = fst.node(tr.addr);
            if node.is_final() {
                found(i + 1, out.cat(node.final_output()).value() as u32);
            }
        }
    }

    /// The best segmentation of `text` (already normalised) as piece ids.
    pub fn segment(&self, text: &str) -> Vec<u32> {
        #[derive(Clone, Copy)]
        struct Best {
            score: f64,
            start: usize,
            id: u32,
            reached: bool,
        }
        let bytes = text.as_bytes();
        let unreached = Best {
            score: 0.0,
            start: 0,
            id: 0,
            reached: false,
        };
        let mut best = vec![unreached; bytes.len() + 1];
        best[0].reached = true;
        for (start, ch) in text.char_indices() {
            let here = best[start].score;
            let char_end = start + ch.len_utf8();
            let mut covered = false;
            let offer = |best: &mut [Best], end: usize, id: u32, score: f64| {
                let cand = here + score;
                let node = &mut best[end];
                if !node.reached || cand > node.score {
                    *node = Best {
                        score: cand,
                        start,
                        id,
                        reached: true,
                    };
                }
            };
            self.prefixes(&bytes[start..], |len, id| {
                let end = start + len;
                // Pieces are whole strings, so an end inside a character cannot happen
                // for valid UTF-8 pieces; skip one defensively rather than panic later.
                if text.is_char_boundary(end) {
                    offer(&mut best, end, id, self.scores[id as usize]);
                    covered |= end == char_end;
                }
            });
            if !covered {
                offer(&mut best, char_end, self.unk, self.unk_score);
            }
        }
        let mut ids = Vec::new();
        let mut end = bytes.len();
        while end > 0 {
            let node = best[end];
            ids.push(node.id);
            end = node.start;
        }
        ids.reverse();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Unigram {
        let vocab = [
            ("<unk>", 0.0),
            ("▁", -2.0),
            ("a", -3.0),
            ("b", -3.0),
            ("ab", -2.5),
            ("▁ab", -4.0),
            ("é", -3.0),
            ("ée", -1.0),
        ];
        let vocab = vocab.iter().map(|(p, s)| (p.to_string(), *s)).collect();
        Unigram::new(vocab, 0).unwrap()
    }

    #[test]
    fn best_path_and_ties() {
        let m = model();
        // "▁ab" as one piece (-4.0) beats "▁" + "ab" (-4.5).
        assert_eq!(m.segment("▁ab"), vec![5]);
        // "ab" (-2.5) beats "a" + "b" (-6.0).
        assert_eq!(m.segment("abab"), vec![4, 4]);
        assert_eq!(m.segment("éée"), vec![6, 7]);
        assert_eq!(m.piece_id("ab"), Some(4));
        assert_eq!(m.piece_id("zz"), None);
    }

    #[test]
    fn unknown_characters_are_one_unk_each() {
        let m = model();
        assert_eq!(m.segment("axyb"), vec![2, 0, 0, 3]);
        assert_eq!(m.segment("日本"), vec![0, 0]);
        assert!(m.segment("").is_empty());
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert!(Unigram::from_tokenizer_json(r#"{"model":{"type":"BPE","vocab":[]}}"#).is_err());
        let no_unk = r#"{"model":{"type":"Unigram","unk_id":5,"vocab":[["a",-1.0]]}}"#;
        assert!(Unigram::from_tokenizer_json(no_unk).is_err());
    }
}
