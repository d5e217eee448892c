//! The numbers, as pure functions over label sets (bit masks, see [`super::formats::LabelSet`]).
//!
//! Each follows the reference implementation the expectations are computed with
//! (`scripts/compare_expectations.py`), operation for operation where it matters:
//! - precision, recall, F1, micro/macro averages, exact match, Hamming loss: scikit-learn,
//!   with `zero_division=0` (a label absent from both sides scores 0, as scikit-learn does);
//! - Cohen's kappa: `sklearn.metrics.cohen_kappa_score` (undefined, `None`, when both sides
//!   use a single value);
//! - Krippendorff's alpha (nominal): the `krippendorff` package (undefined when the data hold
//!   one value only);
//! - Krippendorff's alpha on label sets with MASI distance: `nltk.metrics.agreement.
//!   AnnotationTask(distance=masi_distance).alpha()` (1.0 when all sets are equal, as NLTK
//!   does), where the distance between two equal sets is 0 (NLTK divides by zero on two
//!   empty sets);
//! - Fleiss' kappa: `statsmodels.stats.inter_rater.fleiss_kappa` (undefined when every rating
//!   is the same).

use super::formats::LabelSet;
use serde::Serialize;

/// Binary confusion counts of one label, A as the reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

impl Confusion {
    pub fn of(gold: &[bool], pred: &[bool]) -> Confusion {
        let mut c = Confusion::default();
        for (&g, &p) in gold.iter().zip(pred) {
            match (g, p) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    pub fn add(&mut self, o: &Confusion) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }

    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    pub fn support(&self) -> u64 {
        self.tp + self.fn_
    }

    pub fn predicted(&self) -> u64 {
        self.tp + self.fp
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// scikit-learn's F1: 2tp / (2tp + fp + fn), 0 when that is 0/0.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// `cohen_kappa_score` on the two binary vectors.
    pub fn cohen_kappa(&self) -> Option<f64> {
        let n = self.n() as f64;
        if n == 0.0 {
            return None;
        }
        // sum0: column sums (pred), sum1: row sums (gold) over classes [0, 1].
        let sum0 = [(self.tn + self.fn_) as f64, (self.fp + self.tp) as f64];
        let sum1 = [(self.tn + self.fp) as f64, (self.fn_ + self.tp) as f64];
        // Classes present on either side (sklearn builds the matrix over those only).
        let present: Vec<usize> = (0..2).filter(|&k| sum0[k] + sum1[k] > 0.0).collect();
        if present.len() < 2 {
            return None;
        }
        let observed = (self.fp + self.fn_) as f64;
        let expected = sum0[0] * sum1[1] / n + sum0[1] * sum1[0] / n;
        if expected == 0.0 {
            return None;
        }
        Some(1.0 - observed / expected)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Whether `label_bit` is set in each set.
pub fn column(sets: &[LabelSet], bit: LabelSet) -> Vec<bool> {
    sets.iter().map(|s| s & bit != 0).collect()
}

/// Krippendorff's alpha, nominal, for complete binary data: `coders[c][u]`.
pub fn krippendorff_nominal(coders: &[Vec<bool>]) -> Option<f64> {
    let m = coders.len();
    let units = coders.first().map_or(0, Vec::len);
    if m < 2 || units == 0 {
        return None;
    }
    // Coincidences o[c][k] = sum_u (n_uc n_uk - [c==k] n_uc) / (m - 1).
    let mut o = [[0.0f64; 2]; 2];
    for u in 0..units {
        let ones = coders.iter().filter(|c| c[u]).count() as f64;
        let counts = [m as f64 - ones, ones];
        for c in 0..2 {
            for k in 0..2 {
                let same = if c == k { counts[c] } else { 0.0 };
                o[c][k] += (counts[c] * counts[k] - same) / (m as f64 - 1.0);
            }
        }
    }
    let n_v = [o[0][0] + o[1][0], o[0][1] + o[1][1]];
    if n_v[0] == 0.0 || n_v[1] == 0.0 {
        return None; // one value in the domain
    }
    let n = n_v[0] + n_v[1];
    let e01 = n_v[0] * n_v[1] / (n - 1.0);
    Some(1.0 - (o[0][1] + o[1][0]) / (2.0 * e01))
}

/// Fleiss' kappa for one binary label over complete data `coders[c][u]`.
pub fn fleiss_kappa(coders: &[Vec<bool>]) -> Option<f64> {
    let m = coders.len() as f64;
    let units = coders.first().map_or(0, Vec::len);
    if coders.len() < 2 || units == 0 {
        return None;
    }
    let mut cat = [0.0f64; 2];
    let mut p_rat_sum = 0.0;
    for u in 0..units {
        let ones = coders.iter().filter(|c| c[u]).count() as f64;
        let row = [m - ones, ones];
        cat[0] += row[0];
        cat[1] += row[1];
        p_rat_sum += (row[0] * row[0] + row[1] * row[1] - m) / (m * (m - 1.0));
    }
    let total = units as f64 * m;
    let p_cat = [cat[0] / total, cat[1] / total];
    let p_mean = p_rat_sum / units as f64;
    let p_exp = p_cat[0] * p_cat[0] + p_cat[1] * p_cat[1];
    if 1.0 - p_exp == 0.0 {
        return None;
    }
    Some((p_mean - p_exp) / (1.0 - p_exp))
}

/// NLTK's MASI distance, with 0 between equal sets.
pub fn masi_distance(a: LabelSet, b: LabelSet) -> f64 {
    if a == b {
        return 0.0;
    }
    let inter = (a & b).count_ones() as f64;
    let union = (a | b).count_ones() as f64;
    let (la, lb) = (a.count_ones() as f64, b.count_ones() as f64);
    let m = if la == lb && la == inter {
        1.0
    } else if inter == la.min(lb) {
        2.0 / 3.0
    } else if inter > 0.0 {
        1.0 / 3.0
    } else {
        0.0
    };
    1.0 - inter / union * m
}

/// NLTK's `Disagreement`: sum over value pairs of n_j n_l d(l, j) / (N (N - 1)).
fn disagreement(freqs: &[(LabelSet, f64)]) -> f64 {
    let total: f64 = freqs.iter().map(|f| f.1).sum();
    let mut pairs = 0.0;
    for &(j, nj) in freqs {
        for &(l, nl) in freqs {
            pairs += nj * nl * masi_distance(l, j);
        }
    }
    pairs / (total * (total - 1.0))
}

fn freqs(values: impl IntoIterator<Item = LabelSet>) -> Vec<(LabelSet, f64)> {
    let mut out: Vec<(LabelSet, f64)> = Vec::new();
    for v in values {
        match out.iter_mut().find(|f| f.0 == v) {
            Some(f) => f.1 += 1.0,
            None => out.push((v, 1.0)),
        }
    }
    out
}

/// Krippendorff's alpha over label sets with MASI distance (NLTK's `AnnotationTask.alpha`),
/// complete data `coders[c][u]`.
pub fn krippendorff_masi(coders: &[Vec<LabelSet>]) -> Option<f64> {
    let m = coders.len();
    let units = coders.first().map_or(0, Vec::len);
    if m < 2 || units == 0 {
        return None;
    }
    let all = freqs(coders.iter().flatten().copied());
    if all.len() == 1 {
        return Some(1.0);
    }
    let mut total_do = 0.0;
    for u in 0..units {
        let item = freqs(coders.iter().map(|c| c[u]));
        total_do += disagreement(&item) * m as f64;
    }
    let d_o = total_do / (units * m) as f64;
    let d_e = disagreement(&all);
    Some(1.0 - d_o / d_e)
}

/// Multi-label scores of predictions against a reference, scikit-learn style.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    pub n: usize,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub exact_match: f64,
    pub hamming_loss: f64,
}

/// Confusion per label (taxonomy order).
pub fn confusions(gold: &[LabelSet], pred: &[LabelSet], bits: &[LabelSet]) -> Vec<Confusion> {
    bits.iter()
        .map(|&b| Confusion::of(&column(gold, b), &column(pred, b)))
        .collect()
}

pub fn overall(gold: &[LabelSet], pred: &[LabelSet], bits: &[LabelSet]) -> Overall {
    let per = confusions(gold, pred, bits);
    let mut micro = Confusion::default();
    for c in &per {
        micro.add(c);
    }
    let k = per.len().max(1) as f64;
    let n = gold.len();
    let exact = gold.iter().zip(pred).filter(|(g, p)| g == p).count();
    let wrong: u64 = per.iter().map(|c| c.fp + c.fn_).sum();
    let cells = (n * per.len()) as f64;
    Overall {
        n,
        micro_precision: micro.precision(),
        micro_recall: micro.recall(),
        micro_f1: micro.f1(),
        macro_precision: per.iter().map(Confusion::precision).sum::<f64>() / k,
        macro_recall: per.iter().map(Confusion::recall).sum::<f64>() / k,
        macro_f1: per.iter().map(Confusion::f1).sum::<f64>() / k,
        exact_match: if n == 0 { 0.0 } else { exact as f64 / n as f64 },
        hamming_loss: if cells == 0.0 {
            0.0
        } else {
            wrong as f64 / cells
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn kappa_and_alpha_on_a_textbook_case() {
        // 2x2 table: tp 20, fn 5, fp 10, tn 15 (Wikipedia's Cohen's kappa example: 0.4).
        let c = Confusion {
            tp: 20,
            fp: 10,
            fn_: 5,
            tn: 15,
        };
        close(c.cohen_kappa().unwrap(), 0.4);
        let mut g = vec![];
        let mut p = vec![];
        for (gv, pv, n) in [
            (true, true, 20),
            (false, true, 10),
            (true, false, 5),
            (false, false, 15),
        ] {
            for _ in 0..n {
                g.push(gv);
                p.push(pv);
            }
        }
        assert_eq!(Confusion::of(&g, &p), c);
        // Krippendorff: 1 - (n-1) * o01 / (n0 n1) with n = 100, o01 = 15, n0 = 45, n1 = 55.
        close(
            krippendorff_nominal(&[g.clone(), p.clone()]).unwrap(),
            1.0 - 99.0 * 15.0 / (45.0 * 55.0),
        );
        assert!(Confusion {
            tp: 0,
            fp: 0,
            fn_: 0,
            tn: 9
        }
        .cohen_kappa()
        .is_none());
        assert!(krippendorff_nominal(&[vec![false; 3], vec![false; 3]]).is_none());
        assert!(fleiss_kappa(&[vec![true; 3], vec![true; 3], vec![true; 3]]).is_none());
    }

    #[test]
    fn masi_matches_nltk() {
        close(masi_distance(0b0011, 0b1111), 1.0 - 0.5 * (2.0 / 3.0));
        close(
            masi_distance(0b0011, 0b0110),
            1.0 - (1.0 / 3.0) * (1.0 / 3.0),
        );
        close(masi_distance(0b0001, 0b0010), 1.0);
        close(masi_distance(0, 0), 0.0);
        close(masi_distance(0, 0b1), 1.0);
        assert_eq!(krippendorff_masi(&[vec![0, 0], vec![0, 0]]), Some(1.0));
    }
}
