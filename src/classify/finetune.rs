//! Fine-tuning the top encoder layers for the four labels (libtorch autograd on CPU).
//!
//! Frozen-encoder heads plateau (a probe measured macro-F1 0.72 on real news), so the
//! top `N` transformer layers are trained too. To keep this minutes on 2 cores, the
//! lower `L - N` layers run once, without gradients, and their output is cached per
//! paragraph; each epoch then runs only the top layers, a mean pool, L2 norm and a
//! linear layer with a binary cross-entropy per label. The result is a *delta*: the top
//! layers' weights (f16 safetensors, a few MB, committed beside the heads), applied over
//! the base encoder at load time ([`apply_delta`]).

use crate::labels::Label;
use crate::represent::bert::BertEncoder;
use anyhow::{bail, Context, Result};
use rust_bert::bert::{BertConfig, BertEmbeddings, BertLayer, BertModel};
use std::path::Path;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, serde::Serialize)]
pub struct FinetuneSettings {
    pub layers: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub head_learning_rate: f64,
    pub batch_size: usize,
    /// Tokens kept per paragraph while training (inference is never truncated).
    pub max_tokens: usize,
    pub seed: i64,
}

impl Default for FinetuneSettings {
    fn default() -> Self {
        FinetuneSettings {
            layers: 2,
            epochs: 3,
            learning_rate: 5e-5,
            head_learning_rate: 3e-3,
            batch_size: 16,
            max_tokens: 256,
            seed: 7,
        }
    }
}

#[derive(serde::Deserialize)]
struct SpecialIds {
    bos_id: i64,
    eos_id: i64,
    pad_id: i64,
}

/// Whether the safetensors names carry a `bert.` prefix.
fn name_prefix(weights: &Path) -> Result<bool> {
    let names = crate::represent::bert::safetensors_names(weights)?;
    Ok(names.iter().any(|n| n.starts_with("bert.embeddings.")))
}

fn root_of(vs: &VarStore, prefixed: bool) -> nn::Path<'_> {
    if prefixed {
        vs.root() / "bert"
    } else {
        vs.root()
    }
}

fn extended_mask(mask: &Tensor) -> Tensor {
    ((mask.ones_like() - mask) * -10000.0)
        .to_kind(Kind::Float)
        .unsqueeze(1)
        .unsqueeze(1)
}

fn mean_pool_norm(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let summed = (hidden * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let counts = m
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .clamp_min(1.0);
    let pooled = summed / counts;
    let norm = pooled
        .norm_scalaropt_dim(2.0, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    pooled / norm
}

/// Pads rows of `[len, hidden]` tensors into `[batch, max_len, hidden]` plus a mask.
fn pad_batch(rows: &[&Tensor]) -> (Tensor, Tensor) {
    let max_len = rows.iter().map(|t| t.size()[0]).max().unwrap_or(1);
    let mut padded = Vec::with_capacity(rows.len());
    let mut masks = Vec::with_capacity(rows.len());
    for t in rows {
        let len = t.size()[0];
        padded.push(t.constant_pad_nd([0, 0, 0, max_len - len]));
        let mut m = vec![1i64; len as usize];
        m.resize(max_len as usize, 0);
        masks.push(Tensor::from_slice(&m));
    }
    (Tensor::stack(&padded, 0), Tensor::stack(&masks, 0))
}

/// Fine-tunes the top layers on `texts[train]` and returns them as named tensors
/// (names as in the encoder's weights file), ready for [`apply_delta`] / [`save_delta`].
pub fn finetune(
    encoder_dir: &Path,
    encoder: &BertEncoder,
    texts: &[&str],
    labels: &[Vec<Label>],
    s: &FinetuneSettings,
) -> Result<Vec<(String, Tensor)>> {
    tch::manual_seed(s.seed);
    let cfg_path = encoder_dir.join("config.json");
    let config: BertConfig = serde_json::from_str(
        &std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("reading {}", cfg_path.display()))?,
    )?;
    let specials: SpecialIds = serde_json::from_str(
        &std::fs::read_to_string(encoder_dir.join("veille.json")).with_context(|| {
            format!(
                "fine-tuning needs {}/veille.json (special token ids)",
                encoder_dir.display()
            )
        })?,
    )?;
    let n_layers = config.num_hidden_layers as usize;
    if s.layers == 0 || s.layers >= n_layers {
        bail!(
            "fine-tune between 1 and {} layers, not {}",
            n_layers - 1,
            s.layers
        );
    }
    let first = n_layers - s.layers;
    let weights = encoder_dir.join("model.safetensors");
    let prefixed = name_prefix(&weights)?;

    // The frozen lower part: a BertModel with only the first `first` layers.
    let mut low_cfg = config.clone();
    low_cfg.num_hidden_layers = first as i64;
    let mut vs_low = VarStore::new(Device::Cpu);
    let lower: BertModel<BertEmbeddings> =
        BertModel::new_with_optional_pooler(root_of(&vs_low, prefixed), &low_cfg, false);
    vs_low
        .load_partial(&weights)
        .with_context(|| format!("loading {}", weights.display()))?;
    vs_low.freeze();

    // The trainable top layers, in their own store, named as in the weights file.
    let mut vs_top = VarStore::new(Device::Cpu);
    let top: Vec<BertLayer> = (first..n_layers)
        .map(|i| {
            BertLayer::new(
                root_of(&vs_top, prefixed) / "encoder" / "layer" / i as i64,
                &config,
            )
        })
        .collect();
    vs_top
        .load_partial(&weights)
        .with_context(|| format!("loading {}", weights.display()))?;

    // Cache the lower layers' output per paragraph.
    tracing::info!(
        "fine-tuning: caching layers 0..{first} for {} paragraphs",
        texts.len()
    );
    let ids: Vec<Vec<i64>> = texts
        .iter()
        .map(|text| -> Result<Vec<i64>> {
            let mut ids: Vec<i64> = encoder
                .content_ids(text)?
                .into_iter()
                .map(i64::from)
                .collect();
            ids.truncate(s.max_tokens - 2);
            let mut full = Vec::with_capacity(ids.len() + 2);
            full.push(specials.bos_id);
            full.extend(ids);
            full.push(specials.eos_id);
            Ok(full)
        })
        .collect::<Result<_>>()?;
    // Length-sorted batches cut padding; rows are cut back to their own length.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut cached: Vec<Option<Tensor>> = (0..ids.len()).map(|_| None).collect();
    tch::no_grad(|| -> Result<()> {
        for chunk in order.chunks(32) {
            let max_len = chunk.iter().map(|&i| ids[i].len()).max().unwrap_or(1);
            let mut flat = Vec::with_capacity(chunk.len() * max_len);
            let mut mask = Vec::with_capacity(chunk.len() * max_len);
            for &i in chunk {
                flat.extend(&ids[i]);
                flat.extend(std::iter::repeat_n(specials.pad_id, max_len - ids[i].len()));
                mask.extend(std::iter::repeat_n(1i64, ids[i].len()));
                mask.extend(std::iter::repeat_n(0i64, max_len - ids[i].len()));
            }
            let shape = [chunk.len() as i64, max_len as i64];
            let input = Tensor::from_slice(&flat).view(shape);
            let mask = Tensor::from_slice(&mask).view(shape);
            let out = lower
                .forward_t(
                    Some(&input),
                    Some(&mask),
                    None,
                    None,
                    None,
                    None,
                    None,
                    false,
                )
                .map_err(|e| anyhow::anyhow!("lower layers: {e}"))?;
            for (row, &i) in chunk.iter().enumerate() {
                cached[i] = Some(
                    out.hidden_state
                        .get(row as i64)
                        .narrow(0, 0, ids[i].len() as i64)
                        .copy(),
                );
            }
        }
        Ok(())
    })?;
    let cache: Vec<Tensor> = cached
        .into_iter()
        .map(|t| t.expect("every row cached"))
        .collect();

    let vs_head = VarStore::new(Device::Cpu);
    let head = nn::linear(
        vs_head.root() / "head",
        config.hidden_size,
        Label::ALL.len() as i64,
        Default::default(),
    );
    let mut opt_top = nn::AdamW::default().build(&vs_top, s.learning_rate)?;
    let mut opt_head = nn::Adam::default().build(&vs_head, s.head_learning_rate)?;
    let targets: Vec<f32> = labels
        .iter()
        .flat_map(|ls| Label::ALL.iter().map(move |l| ls.contains(l) as u8 as f32))
        .collect();
    let targets = Tensor::from_slice(&targets).view([labels.len() as i64, Label::ALL.len() as i64]);
    let pos = targets.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
    let neg = (labels.len() as f64 - &pos).clamp_min(1.0);
    let pos_weight = (neg / pos.clamp_min(1.0)).sqrt();

    let run_top = |hidden: &Tensor, mask: &Tensor, train: bool| -> Tensor {
        let ext = extended_mask(mask);
        let mut h = hidden.shallow_clone();
        for layer in &top {
            h = layer
                .forward_t(&h, Some(&ext), None, None, train)
                .hidden_state;
        }
        mean_pool_norm(&h, mask)
    };

    let n = texts.len();
    for epoch in 0..s.epochs {
        let order = Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu));
        let order: Vec<i64> = Vec::<i64>::try_from(&order)?;
        let mut total = 0.0;
        for chunk in order.chunks(s.batch_size) {
            let rows: Vec<&Tensor> = chunk.iter().map(|&i| &cache[i as usize]).collect();
            let (hidden, mask) = pad_batch(&rows);
            let pooled = run_top(&hidden, &mask, true);
            let logits = head.forward_t_scaled(&pooled);
            let idx = Tensor::from_slice(chunk);
            let y = targets.index_select(0, &idx);
            let loss = logits.binary_cross_entropy_with_logits::<&Tensor>(
                &y,
                None,
                Some(&pos_weight),
                tch::Reduction::Mean,
            );
            opt_top.zero_grad();
            opt_head.zero_grad();
            loss.backward();
            opt_top.step();
            opt_head.step();
            total += loss.double_value(&[]) * chunk.len() as f64;
        }
        tracing::info!(
            "fine-tuning epoch {}: loss {:.4}",
            epoch + 1,
            total / n as f64
        );
        eprintln!(
            "veille: fine-tuning epoch {}/{}: loss {:.4}",
            epoch + 1,
            s.epochs,
            total / n as f64
        );
    }
    let mut named: Vec<(String, Tensor)> = vs_top
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(named)
}

/// The pooled vector is unit-norm; a fixed scale lets a linear layer reach confident
/// logits quickly (the final heads are refitted by logistic regression anyway).
trait ScaledHead {
    fn forward_t_scaled(&self, x: &Tensor) -> Tensor;
}

impl ScaledHead for nn::Linear {
    fn forward_t_scaled(&self, x: &Tensor) -> Tensor {
        use tch::nn::Module;
        self.forward(&(x * 20.0))
    }
}

/// Writes the delta as f16 safetensors.
pub fn save_delta(named: &[(String, Tensor)], path: &Path) -> Result<()> {
    let half: Vec<(String, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.clone(), t.to_kind(Kind::Half)))
        .collect();
    Tensor::write_safetensors(&half, path).with_context(|| format!("writing {}", path.display()))
}

/// Overwrites the encoder's weights with the tensors of a delta file (or list).
pub fn apply_named(encoder: &mut BertEncoder, named: &[(String, Tensor)]) -> Result<()> {
    let vars = encoder.var_store().variables();
    tch::no_grad(|| -> Result<()> {
        for (name, t) in named {
            let Some(mut var) = vars.get(name).map(|v| v.shallow_clone()) else {
                bail!("the fine-tuned tensor {name} has no counterpart in the encoder");
            };
            if var.size() != t.size() {
                bail!(
                    "{name}: shape {:?} in the delta, {:?} in the encoder",
                    t.size(),
                    var.size()
                );
            }
            var.copy_(&t.to_kind(var.kind()));
        }
        Ok(())
    })
}

/// Loads a delta file written by [`save_delta`] into the encoder.
pub fn apply_delta(encoder: &mut BertEncoder, path: &Path) -> Result<()> {
    let named = Tensor::read_safetensors(path)
        .with_context(|| format!("reading the fine-tuned encoder layers {}", path.display()))?;
    apply_named(encoder, &named).with_context(|| format!("applying {}", path.display()))
}
