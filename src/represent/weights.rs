//! Loading safetensors weights into a tch `VarStore` without holding the file in memory
//! twice (as `VarStore::load` does): f32 tensors are streamed in 16 MB slices straight
//! into the variables. Used by `represent::bert::BertEncoder` (and the fine-tuning code).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// The JSON header of a safetensors file and the offset where its data starts.
pub fn safetensors_header(
    path: &Path,
) -> Result<(serde_json::Map<String, serde_json::Value>, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .with_context(|| format!("reading {}", path.display()))?;
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 {
        bail!(
            "{}: implausible safetensors header of {n} bytes",
            path.display()
        );
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h)
        .with_context(|| format!("reading {}", path.display()))?;
    let v = serde_json::from_slice(&h)
        .with_context(|| format!("parsing the header of {}", path.display()))?;
    Ok((v, 8 + n))
}

/// Tensor names of a safetensors file, read from its header only.
pub fn safetensors_names(path: &Path) -> Result<Vec<String>> {
    let (header, _) = safetensors_header(path)?;
    Ok(header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect())
}

/// Copies f32 weights from a safetensors file into the variables of `vs`, streaming
/// 16 MB slices (peak memory: the model plus one slice, where `VarStore::load` holds the
/// whole file twice). Other dtypes fall back to `VarStore::load`.
pub fn load_weights(vs: &mut VarStore, path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let (header, data_start) = safetensors_header(path)?;
    let all_f32 = header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .all(|(_, v)| v["dtype"] == "F32");
    if !all_f32 {
        return vs
            .load(path)
            .with_context(|| format!("loading weights from {}", path.display()));
    }
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let bad = |name: &str, what: &str| anyhow!("{}: tensor {name}: {what}", path.display());
    let mut buf = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vs.variables() {
            let e = header.get(&name).ok_or_else(|| bad(&name, "missing"))?;
            let shape: Vec<i64> =
                serde_json::from_value(e["shape"].clone()).map_err(|_| bad(&name, "bad shape"))?;
            if shape != var.size() {
                return Err(bad(
                    &name,
                    &format!("shape {shape:?}, model expects {:?}", var.size()),
                ));
            }
            let offs: [u64; 2] = serde_json::from_value(e["data_offsets"].clone())
                .map_err(|_| bad(&name, "bad offsets"))?;
            let numel: i64 = shape.iter().product();
            if offs[1].checked_sub(offs[0]) != Some(numel as u64 * 4) {
                return Err(bad(&name, "data size does not match its shape"));
            }
            let rows = shape.first().copied().unwrap_or(1).max(1);
            let row_elems = numel / rows;
            let chunk_rows = ((4 << 20) / row_elems.max(1)).clamp(1, rows);
            f.seek(SeekFrom::Start(data_start + offs[0]))
                .with_context(|| format!("reading {}", path.display()))?;
            let flat = var.view([rows, row_elems]);
            let mut r0 = 0;
            while r0 < rows {
                let n = chunk_rows.min(rows - r0);
                buf.resize((n * row_elems * 4) as usize, 0);
                f.read_exact(&mut buf)
                    .with_context(|| format!("reading {} ({name})", path.display()))?;
                let src = Tensor::from_data_size(&buf, &[n, row_elems], Kind::Float);
                flat.narrow(0, r0, n).copy_(&src);
                r0 += n;
            }
        }
        Ok(())
    })
}
