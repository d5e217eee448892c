//! A tiny, randomly initialised Marian model for tests and benchmarks.
//!
//! No translation weights can be downloaded on the build machines, so the test suite and the
//! benchmark make their own model: rust-bert's `MarianForConditionalGeneration` with a tiny
//! config (d_model 16, 2 layers, 2 heads), random weights from a seeded tch VarStore,
//! sinusoidal position tables like a real Marian export, and a small SentencePiece
//! vocabulary (a few hundred pieces: common words of the source language and English, and
//! single characters so any text tokenises) written as a `ModelProto` protobuf by
//! [`write_spm`]. The folder has exactly the files of a Helsinki-NLP opus-mt folder:
//! `config.json`, `model.safetensors`, `source.spm`, `target.spm`, `vocab.json`.
//!
//! The end-of-sentence logit is biased far down, so the model never stops before the
//! maximum length: its output length shows the `--max-length` setting at work.
//!
//! Reached from the command line as `veille models generate-tiny-marian DIR --lang sv`
//! (hidden from `--help`).

use anyhow::{Context, Result};
use rust_bert::marian::{MarianConfig, MarianForConditionalGeneration};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Common words, per language, that become whole pieces of the tiny vocabulary.
fn words(lang: &str) -> &'static [&'static str] {
    match lang {
        "sv" => &[
            "det",
            "är",
            "en",
            "och",
            "att",
            "som",
            "på",
            "för",
            "med",
            "till",
            "av",
            "inte",
            "har",
            "jag",
            "den",
            "de",
            "om",
            "ett",
            "var",
            "men",
            "så",
            "vi",
            "kan",
            "ska",
            "från",
            "eller",
            "regeringen",
            "säkerhetspolisen",
            "spionage",
            "företaget",
            "Sverige",
            "svenska",
            "under",
            "efter",
            "enligt",
        ],
        "fr" => &[
            "le",
            "la",
            "les",
            "de",
            "des",
            "du",
            "et",
            "est",
            "un",
            "une",
            "que",
            "qui",
            "dans",
            "pour",
            "pas",
            "sur",
            "au",
            "il",
            "elle",
            "nous",
            "gouvernement",
            "espionnage",
            "entreprise",
            "France",
            "selon",
            "après",
            "avec",
            "ont",
            "été",
            "sont",
        ],
        _ => &[
            "the",
            "of",
            "and",
            "to",
            "a",
            "in",
            "is",
            "that",
            "for",
            "it",
            "was",
            "on",
            "are",
            "with",
            "as",
            "by",
            "this",
            "government",
            "espionage",
            "company",
            "security",
            "service",
            "said",
            "has",
            "have",
            "not",
            "from",
            "after",
            "according",
        ],
    }
}

const CHARS: &str = "abcdefghijklmnopqrstuvwxyzåäöéèêëàâçîïôûùüœæABCDEFGHIJKLMNOPQRSTUVWXYZÅÄÖÉÈÀÇ0123456789.,;:!?'\"-()%/";

/// One SentencePiece entry: piece, score, type (1 normal, 2 unknown, 3 control).
pub type Piece = (String, f32, u64);

/// Pieces of the tiny SentencePiece model for these languages' words.
pub fn pieces(langs: &[&str]) -> Vec<Piece> {
    let mut out: Vec<Piece> = vec![
        ("<unk>".into(), 0.0, 2),
        ("<s>".into(), 0.0, 3),
        ("</s>".into(), 0.0, 3),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut push = |out: &mut Vec<Piece>, p: String, score: f32| {
        if seen.insert(p.clone()) {
            out.push((p, score, 1));
        }
    };
    for lang in langs {
        for w in words(lang) {
            push(
                &mut out,
                format!("\u{2581}{w}"),
                -1.0 - w.chars().count() as f32 * 0.01,
            );
        }
    }
    push(&mut out, "\u{2581}".into(), -4.0);
    for c in CHARS.chars() {
        push(&mut out, format!("\u{2581}{c}"), -5.0);
        push(&mut out, c.to_string(), -6.0);
    }
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn field_varint(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

/// Serialises a SentencePiece `ModelProto`: `repeated SentencePiece pieces = 1`
/// (`piece = 1`, `float score = 2`, `type = 3`), `TrainerSpec trainer_spec = 2`
/// (`model_type = 3` UNIGRAM, `vocab_size = 4`) and `NormalizerSpec normalizer_spec = 3`
/// (`name = 1`, `add_dummy_prefix = 3`, `remove_extra_whitespaces = 4`,
/// `escape_whitespaces = 5`).
pub fn spm_bytes(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for (piece, score, kind) in pieces {
        let mut p = Vec::new();
        field_bytes(&mut p, 1, piece.as_bytes());
        varint(&mut p, (2 << 3) | 5);
        p.extend_from_slice(&score.to_le_bytes());
        field_varint(&mut p, 3, *kind);
        field_bytes(&mut out, 1, &p);
    }
    let mut trainer = Vec::new();
    field_varint(&mut trainer, 3, 1);
    field_varint(&mut trainer, 4, pieces.len() as u64);
    field_bytes(&mut out, 2, &trainer);
    let mut normalizer = Vec::new();
    field_bytes(&mut normalizer, 1, b"identity");
    field_varint(&mut normalizer, 3, 1);
    field_varint(&mut normalizer, 4, 1);
    field_varint(&mut normalizer, 5, 1);
    field_bytes(&mut out, 3, &normalizer);
    out
}

/// Writes a SentencePiece model file.
pub fn write_spm(path: &Path, pieces: &[Piece]) -> Result<()> {
    std::fs::write(path, spm_bytes(pieces)).with_context(|| format!("writing {}", path.display()))
}

/// The pieces of a SentencePiece `ModelProto` (checked parse of field 1 only), for install
/// checks and tests.
pub fn read_spm_pieces(bytes: &[u8]) -> Result<Vec<String>> {
    fn read_varint(b: &[u8], i: &mut usize) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i).context("truncated varint")?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        anyhow::bail!("varint too long")
    }
    fn skip(b: &[u8], i: &mut usize, wire: u64) -> Result<Option<(usize, usize)>> {
        match wire {
            0 => {
                read_varint(b, i)?;
                Ok(None)
            }
            1 => {
                *i += 8;
                Ok(None)
            }
            5 => {
                *i += 4;
                Ok(None)
            }
            2 => {
                let len = read_varint(b, i)? as usize;
                let start = *i;
                *i = i
                    .checked_add(len)
                    .filter(|&e| e <= b.len())
                    .context("truncated field")?;
                Ok(Some((start, *i)))
            }
            w => anyhow::bail!("unsupported protobuf wire type {w}"),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let tag = read_varint(bytes, &mut i)?;
        let range = skip(bytes, &mut i, tag & 7)?;
        if i > bytes.len() {
            anyhow::bail!("truncated protobuf");
        }
        if let (1, Some((s, e))) = (tag >> 3, range) {
            let inner = &bytes[s..e];
            let mut j = 0;
            let mut piece = None;
            while j < inner.len() {
                let t = read_varint(inner, &mut j)?;
                let r = skip(inner, &mut j, t & 7)?;
                if let (1, Some((a, z))) = (t >> 3, r) {
                    piece = Some(
                        String::from_utf8(inner[a..z].to_vec()).context("a piece is not UTF-8")?,
                    );
                }
            }
            out.push(piece.context("a SentencePiece entry without a piece")?);
        }
    }
    Ok(out)
}

/// Sinusoidal position table as Marian (and Hugging Face's Marian port) builds it:
/// sines in the first half of each row, cosines in the second.
pub fn sinusoidal(positions: i64, dim: i64) -> Tensor {
    let half = dim / 2;
    let mut data = vec![0f32; (positions * dim) as usize];
    for pos in 0..positions {
        for j in 0..half {
            let angle = pos as f64 / 10000f64.powf(2.0 * j as f64 / dim as f64);
            data[(pos * dim + j) as usize] = angle.sin() as f32;
            data[(pos * dim + half + j) as usize] = angle.cos() as f32;
        }
    }
    Tensor::from_slice(&data).reshape([positions, dim])
}

/// The tiny Marian config (Hugging Face `config.json` fields that rust-bert reads).
pub fn tiny_config(vocab_size: i64) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["MarianMTModel"],
        "model_type": "marian",
        "activation_function": "swish",
        "activation_dropout": 0.0,
        "attention_dropout": 0.0,
        "dropout": 0.1,
        "d_model": 16,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "num_hidden_layers": 2,
        "max_position_embeddings": 512,
        "init_std": 0.02,
        "scale_embedding": true,
        "static_position_embeddings": true,
        "normalize_embedding": false,
        "normalize_before": false,
        "add_final_layer_norm": false,
        "is_encoder_decoder": true,
        "vocab_size": vocab_size,
        "pad_token_id": vocab_size - 1,
        "eos_token_id": 0,
        "bos_token_id": 0,
        "decoder_start_token_id": vocab_size - 1,
        "max_length": 512,
        "num_beams": 4,
        "_name_or_path": "veille/tiny-marian"
    })
}

/// Generates a tiny `lang`->en Marian folder in `dir` (created if needed); `seed` makes the
/// weights reproducible.
pub fn generate(dir: &Path, lang: &str, seed: i64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = pieces(&[lang]);
    let target = pieces(&["en"]);
    write_spm(&dir.join("source.spm"), &source)?;
    write_spm(&dir.join("target.spm"), &target)?;
    // Marian's joint vocabulary: </s> 0, <unk> 1, the pieces, <pad> last.
    let mut vocab: BTreeMap<String, i64> = BTreeMap::new();
    let mut order: Vec<String> = vec!["</s>".into(), "<unk>".into()];
    for (p, _, kind) in source.iter().chain(&target) {
        if *kind == 1 && !order.contains(p) {
            order.push(p.clone());
        }
    }
    order.push("<pad>".into());
    for (i, p) in order.iter().enumerate() {
        vocab.insert(p.clone(), i as i64);
    }
    let vocab_size = order.len() as i64;
    let vocab_path = dir.join("vocab.json");
    std::fs::write(&vocab_path, serde_json::to_string_pretty(&vocab)?)
        .with_context(|| format!("writing {}", vocab_path.display()))?;
    let config = tiny_config(vocab_size);
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let cfg: MarianConfig = serde_json::from_value(config)?;
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = MarianForConditionalGeneration::new(vs.root(), &cfg);
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            if name.ends_with("embed_positions.weight") {
                var.copy_(&sinusoidal(cfg.max_position_embeddings, cfg.d_model));
            } else if name == "final_logits_bias" {
                let mut bias = vec![0f32; vocab_size as usize];
                bias[0] = -1.0e4;
                var.copy_(&Tensor::from_slice(&bias).reshape([1, vocab_size]));
            } else if name.ends_with("shared.weight") {
                // Larger embeddings than rust-bert's default init, so outputs vary with input.
                var.copy_(
                    &(Tensor::randn([vocab_size, cfg.d_model], (Kind::Float, Device::Cpu)) * 0.5),
                );
            }
        }
    });
    let weights = dir.join("model.safetensors");
    vs.save(&weights)
        .with_context(|| format!("writing {}", weights.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spm_round_trip() {
        let p = pieces(&["sv"]);
        let back = read_spm_pieces(&spm_bytes(&p)).unwrap();
        assert_eq!(back.len(), p.len());
        assert_eq!(back[0], "<unk>");
        assert!(back.contains(&"\u{2581}säkerhetspolisen".to_string()));
    }

    #[test]
    fn truncated_spm_is_an_error() {
        let bytes = spm_bytes(&pieces(&["fr"]));
        assert!(read_spm_pieces(&bytes[..bytes.len() / 2 + 3]).is_err());
    }

    #[test]
    fn sinusoidal_rows() {
        let t = sinusoidal(4, 6);
        assert_eq!(t.size(), vec![4, 6]);
        // Position 0: sin 0 = 0 in the first half, cos 0 = 1 in the second.
        assert_eq!(t.double_value(&[0, 0]), 0.0);
        assert_eq!(t.double_value(&[0, 3]), 1.0);
    }
}
