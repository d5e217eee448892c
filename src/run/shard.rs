//! `--shard K/N`: a stable split of the input documents over N machines or processes.
//!
//! A document belongs to shard `K` when the first 8 bytes of the SHA-256 of its key, read
//! as a big-endian integer, leave remainder `K` when divided by `N`. SHA-256 rather than
//! Rust's `Hash` because the split must agree across runs, builds and machines. The key is
//! the document name, except for a document of one paragraph (a JSON Lines record that
//! stands alone), keyed by its id: otherwise every record of a JSONL file without `doc`
//! fields would share the file's name and land in one shard.

use crate::ingest::Document;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0 <= index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("{s:?} is not K/N with 0 <= K < N (e.g. 0/4)");
        let (k, n) = s.split_once('/').ok_or_else(usage)?;
        let index: u64 = k.trim().parse().map_err(|_| usage())?;
        let count: u64 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The key a document is sharded by (see the module docs).
pub fn shard_key(doc: &Document) -> &str {
    match doc.inputs.as_slice() {
        [only] => &only.id,
        _ => &doc.name,
    }
}

/// The shard, in `0..count`, that `key` falls in.
pub fn shard_of(key: &str, count: u64) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % count
}

impl Shard {
    pub fn contains(&self, doc: &Document) -> bool {
        shard_of(shard_key(doc), self.count) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Input;

    fn doc(name: &str, ids: &[&str]) -> Document {
        Document {
            name: name.into(),
            inputs: ids
                .iter()
                .map(|id| Input::failed(id.to_string(), name.into(), 1, "x".into()))
                .collect(),
        }
    }

    #[test]
    fn parses_and_prints_k_of_n() {
        let s: Shard = "2/5".parse().unwrap();
        assert_eq!(s, Shard { index: 2, count: 5 });
        assert_eq!(s.to_string(), "2/5");
        for bad in ["5/5", "1/0", "a/2", "3", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hash_is_fixed_across_builds() {
        // Pinned values: a change here would move documents between shards of runs
        // already in progress on other machines.
        assert_eq!(shard_of("a", 1_000_003), 0xca978112ca1bbdca % 1_000_003);
        assert_eq!(shard_of("", 7), 0xe3b0c44298fc1c14 % 7);
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_document() {
        let docs: Vec<Document> = (0..500)
            .map(|i| {
                if i % 3 == 0 {
                    doc(
                        &format!("article-{i}"),
                        &[&format!("a{i}#1"), &format!("a{i}#2")],
                    )
                } else {
                    doc("feed.jsonl", &[&format!("rec-{i}")])
                }
            })
            .collect();
        let n = 4;
        let mut seen = vec![0usize; docs.len()];
        let mut sizes = Vec::new();
        for k in 0..n {
            let shard = Shard { index: k, count: n };
            let picked: Vec<usize> = (0..docs.len())
                .filter(|&i| shard.contains(&docs[i]))
                .collect();
            sizes.push(picked.len());
            for i in picked {
                seen[i] += 1;
            }
        }
        assert!(
            seen.iter().all(|&c| c == 1),
            "each document in exactly one shard"
        );
        // Single-record documents of one file spread over the shards (keyed by id).
        assert!(sizes.iter().all(|&s| s > 80), "{sizes:?}");
    }
}
