//! The int8 word-embedding table the ONNX encoder reads its word vectors from.
//!
//! `scripts/build_onnx.py` writes it beside the graph (`<stem>.int8.words`): the rows as
//! int8 (`vocab * dim` bytes), then, at a page-aligned offset, one little-endian f32 scale
//! per block of `block` values of each row. The sidecar records the layout.
//!
//! Why the lookup happens here and not in the graph: each ONNX Runtime session maps its
//! graph's initialisers itself, and page fault-around (16 pages per fault) made the
//! whole 100 MB table resident once a few thousand distinct tokens had been read, once
//! per session. A mapping of our own fared no better (`MADV_RANDOM` does not stop
//! fault-around over pages already cached), so rows are read with positioned reads
//! (`pread`): the table stays in the page cache, shared and reclaimable, and takes no
//! memory of the process. About 40,000 reads for 300 paragraphs cost ~50 ms.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The table's layout, as the sidecar records it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WordTableInfo {
    pub file: String,
    pub vocab: usize,
    pub dim: usize,
    pub block: usize,
    pub scales_offset: usize,
}

/// An int8 word table read row by row from its file.
pub struct WordTable {
    file: std::fs::File,
    info: WordTableInfo,
}

impl WordTable {
    /// Maps `path` and checks its size against `info`.
    pub fn open(path: &Path, info: WordTableInfo) -> Result<WordTable> {
        if info.block == 0 || !info.dim.is_multiple_of(info.block) || info.vocab == 0 {
            bail!("{}: unusable layout {info:?}", path.display());
        }
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .len() as usize;
        let scales = info.vocab * (info.dim / info.block) * 4;
        if info.scales_offset < info.vocab * info.dim || len != info.scales_offset + scales {
            bail!(
                "{}: {len} bytes, the sidecar's layout needs {} (rebuild it: scripts/setup.sh)",
                path.display(),
                info.scales_offset + scales
            );
        }
        Ok(WordTable { file, info })
    }

    /// Width of a row.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// Appends the dequantised rows of `ids` to `out` (`ids.len() * dim` values).
    pub fn lookup(&self, ids: &[i64], out: &mut Vec<f32>) -> Result<()> {
        let (dim, block) = (self.info.dim, self.info.block);
        let blocks = dim / block;
        let mut row = vec![0u8; dim];
        let mut scales = vec![0u8; blocks * 4];
        out.reserve(ids.len() * dim);
        for &id in ids {
            let Some(r) = usize::try_from(id).ok().filter(|&r| r < self.info.vocab) else {
                bail!(
                    "token id {id} is outside the word table ({} rows)",
                    self.info.vocab
                );
            };
            self.read_at(&mut row, r * dim)?;
            self.read_at(&mut scales, self.info.scales_offset + r * blocks * 4)?;
            for (chunk, s) in row.chunks_exact(block).zip(scales.chunks_exact(4)) {
                let scale = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                out.extend(chunk.iter().map(|&q| q as i8 as f32 * scale));
            }
        }
        Ok(())
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], at: usize) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(buf, at as u64)
            .context("reading the word table")
    }

    #[cfg(windows)]
    fn read_at(&self, mut buf: &mut [u8], mut at: usize) -> Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            let n = self
                .file
                .seek_read(buf, at as u64)
                .context("reading the word table")?;
            if n == 0 {
                bail!("the word table ends early");
            }
            buf = &mut buf[n..];
            at += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-row, 4-wide table with blocks of 2, written the way build_onnx.py does.
    fn table(dir: &Path) -> WordTable {
        let q: [i8; 12] = [1, -1, 2, -2, 3, 4, 5, 6, -127, 127, 0, 10];
        let scales: [f32; 6] = [0.5, 1.0, 2.0, 0.25, 1.0, 0.1];
        let mut bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        bytes.resize(16, 0); // the page-aligned offset, in small
        for s in scales {
            bytes.extend(s.to_le_bytes());
        }
        let path = dir.join("t.words");
        std::fs::write(&path, bytes).unwrap();
        let info = WordTableInfo {
            file: "t.words".into(),
            vocab: 3,
            dim: 4,
            block: 2,
            scales_offset: 16,
        };
        WordTable::open(&path, info).unwrap()
    }

    #[test]
    fn rows_are_dequantised_per_block() {
        let dir = std::env::temp_dir().join(format!("veille-words-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = table(&dir);
        let mut out = Vec::new();
        t.lookup(&[2, 0], &mut out).unwrap();
        assert_eq!(out, vec![-127.0, 127.0, 0.0, 1.0, 0.5, -0.5, 2.0, -2.0]);
        assert!(t.lookup(&[3], &mut out).is_err());
        assert!(t.lookup(&[-1], &mut out).is_err());
        let short = WordTableInfo {
            file: "t.words".into(),
            vocab: 4,
            dim: 4,
            block: 2,
            scales_offset: 16,
        };
        assert!(WordTable::open(&dir.join("t.words"), short).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
