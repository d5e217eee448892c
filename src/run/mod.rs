//! Batch runs at scale, for `classify` and `detect` over large corpora: the output file
//! with `--resume`/`--force` and its provenance manifest ([`output`], [`resume`],
//! [`manifest`]), `--shard K/N` ([`shard`]) and the progress display ([`progress`]).
//! These take plain options structs; the command layer (`app`) fills them from the flags.

pub mod manifest;
pub mod output;
pub mod progress;
pub mod resume;
pub mod shard;

use crate::ingest::{self, Document, IngestOptions};
use shard::Shard;
use std::path::PathBuf;

/// The documents of a run, in input order: every path read in turn, keeping those of the
/// shard. Reads one path at a time, so memory holds one file's documents, not the corpus.
pub fn documents<'a>(
    paths: &'a [PathBuf],
    opts: &'a IngestOptions,
    shard: Option<Shard>,
) -> impl Iterator<Item = Document> + 'a {
    paths.iter().flat_map(move |p| {
        ingest::read_path(p, opts)
            .into_iter()
            .filter(move |d| shard.is_none_or(|s| s.contains(d)))
    })
}
