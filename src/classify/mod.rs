//! Classification: per-label logistic heads over an encoder's embeddings.
//!
//! A [`Heads`] file (`models/heads/*.json`, committed) names the encoder it was trained
//! on, the corpus hash and the settings, and holds for each label a weight vector, a bias,
//! a calibration temperature and the decision threshold, and may name a character n-gram
//! model whose logits join the heads' (the ensemble, [`char_ngrams`]).

pub mod char_ngrams;
pub mod finetune;
pub mod heads;
pub mod train;

pub use heads::{Heads, LabelHead};
