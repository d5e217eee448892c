//! `veille compare --significance`: is the difference between two systems more than noise?
//!
//! Every pair of systems (the files after the reference) is scored against the reference on
//! the same joined paragraphs, so the tests are *paired*:
//! - a paired bootstrap (resample paragraphs with replacement, the same resample for every
//!   system) gives a 95% percentile interval for the difference B − A of each metric;
//! - paired approximate randomization (swap A's and B's labels of each paragraph with
//!   probability ½) gives a two-sided p-value, `(1 + #{|d*| ≥ |d|}) / (1 + R)`;
//! - McNemar's exact test on per-paragraph exact match (a binomial test on the discordant
//!   paragraphs, as statsmodels' `mcnemar(exact=True)`) gives the `exact_match` p-value.
//!
//! Metrics are macro-F1, micro-F1, each label's F1 and exact match, computed from summed
//! per-paragraph contributions (tp, fp, fn per label, an exact-match flag). Paragraphs with the
//! same label sets in every file contribute the same, so the bootstrap counts how often each
//! distinct pattern is drawn instead of summing paragraphs one by one.
//!
//! The random numbers come from a small seeded generator (xoshiro256**), so a run is
//! reproducible with `--seed`; results agree with scipy's `bootstrap` and `permutation_test`
//! within Monte-Carlo error (`scripts/compare_expectations.py`, `tests/compare_significance.rs`).

use super::formats::LabelSet;
use crate::labels::Label;
use serde::Serialize;
use std::collections::HashMap;

/// Settings of the tests.
#[derive(Debug, Clone, Copy)]
pub struct SignificanceOptions {
    /// Bootstrap resamples and randomization rounds.
    pub resamples: usize,
    pub seed: u64,
}

/// One metric difference between two systems.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// File positions (1 = the first system after the reference), for report letters.
    #[serde(skip)]
    pub index_a: usize,
    #[serde(skip)]
    pub index_b: usize,
    pub system_a: String,
    pub system_b: String,
    /// `macro_f1`, `micro_f1`, `f1:<label>` or `exact_match`.
    pub metric: String,
    /// The metric of A and of B against the reference.
    pub value_a: f64,
    pub value_b: f64,
    /// B minus A.
    pub diff: f64,
    /// Paired bootstrap 95% percentile interval of `diff`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Approximate randomization (McNemar's exact test for `exact_match`), two-sided.
    pub p_value: f64,
    /// `randomization` or `mcnemar-exact`.
    pub test: &'static str,
}

/// How the `significance` figures were made (`significance_settings` in the JSON report).
#[derive(Debug, Clone, Serialize)]
pub struct SignificanceSettings {
    pub resamples: usize,
    pub seed: u64,
    /// Paragraphs (joined ids) the tests resample.
    pub n: usize,
    pub confidence: f64,
    pub bootstrap: &'static str,
    pub randomization: &'static str,
    pub exact_match: &'static str,
}

impl SignificanceSettings {
    pub fn new(opts: SignificanceOptions, n: usize) -> Self {
        SignificanceSettings {
            resamples: opts.resamples.max(1),
            seed: opts.seed,
            n,
            confidence: 0.95,
            bootstrap: "paired, percentile interval",
            randomization:
                "paired approximate randomization, two-sided, (1 + extreme) / (1 + resamples)",
            exact_match: "McNemar's exact test (binomial on discordant paragraphs), two-sided",
        }
    }
}

/// A small seeded generator (xoshiro256**, seeded through splitmix64).
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-40 for any n here).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// The metric names, in report order.
pub fn metric_names(labels: &[Label]) -> Vec<String> {
    let mut out = vec!["macro_f1".to_string(), "micro_f1".to_string()];
    out.extend(labels.iter().map(|l| format!("f1:{}", l.as_str())));
    out.push("exact_match".into());
    out
}

/// Summed contributions: `[tp, fp, fn]` per label, then exact matches, then paragraphs.
type Sums = Vec<i64>;

fn contribution(gold: LabelSet, pred: LabelSet, bits: &[LabelSet]) -> Sums {
    let mut c = Vec::with_capacity(3 * bits.len() + 2);
    for &b in bits {
        let (g, p) = (gold & b != 0, pred & b != 0);
        c.push((g && p) as i64);
        c.push((!g && p) as i64);
        c.push((g && !p) as i64);
    }
    c.push((gold == pred) as i64);
    c.push(1);
    c
}

fn f1(tp: i64, fp: i64, fn_: i64) -> f64 {
    let den = 2 * tp + fp + fn_;
    if den == 0 {
        0.0
    } else {
        (2 * tp) as f64 / den as f64
    }
}

/// The metrics of [`metric_names`] from summed contributions (scikit-learn's definitions,
/// `zero_division=0`).
fn metrics(s: &[i64], k: usize) -> Vec<f64> {
    let per: Vec<f64> = (0..k)
        .map(|j| f1(s[3 * j], s[3 * j + 1], s[3 * j + 2]))
        .collect();
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for j in 0..k {
        tp += s[3 * j];
        fp += s[3 * j + 1];
        fn_ += s[3 * j + 2];
    }
    let n = s[3 * k + 1];
    let mut out = vec![
        if k == 0 {
            0.0
        } else {
            per.iter().sum::<f64>() / k as f64
        },
        f1(tp, fp, fn_),
    ];
    out.extend(per);
    out.push(if n == 0 {
        0.0
    } else {
        s[3 * k] as f64 / n as f64
    });
    out
}

fn add(into: &mut [i64], c: &[i64], times: i64) {
    for (a, b) in into.iter_mut().zip(c) {
        *a += b * times;
    }
}

/// Linear-interpolated percentile (numpy's default) of sorted values, `q` in [0, 1].
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// McNemar's exact test: two-sided binomial p-value for `b` and `c` discordant pairs,
/// `min(1, 2 · P(X ≤ min(b, c)))` with X ~ Binomial(b + c, ½), as statsmodels computes it.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    let k = b.min(c);
    // log C(n, i) built up term by term; the sum in log space avoids 2^-n underflow.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_c - ln2n);
    }
    let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let cdf = (max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()).exp();
    (2.0 * cdf).min(1.0)
}

/// Runs every test for every pair of systems. `gold` is the reference's label sets,
/// `systems` each system's (name, label sets) over the same paragraphs, in file order.
pub fn compare(
    gold: &[LabelSet],
    systems: &[(String, Vec<LabelSet>)],
    labels: &[Label],
    bits: &[LabelSet],
    opts: SignificanceOptions,
) -> Vec<Comparison> {
    let n = gold.len();
    let k = bits.len();
    let names = metric_names(labels);
    let n_metrics = names.len();
    let s_count = systems.len();
    let width = 3 * k + 2;

    // contributions[s][u]
    let contributions: Vec<Vec<Sums>> = systems
        .iter()
        .map(|(_, sets)| {
            gold.iter()
                .zip(sets)
                .map(|(&g, &p)| contribution(g, p, bits))
                .collect()
        })
        .collect();
    let totals: Vec<Sums> = contributions
        .iter()
        .map(|cs| {
            let mut t = vec![0; width];
            for c in cs {
                add(&mut t, c, 1);
            }
            t
        })
        .collect();
    let observed: Vec<Vec<f64>> = totals.iter().map(|t| metrics(t, k)).collect();

    // Distinct patterns (gold and every system's set) and each paragraph's pattern.
    let mut pattern_of: Vec<usize> = Vec::with_capacity(n);
    let mut patterns: Vec<usize> = Vec::new(); // a paragraph showing each pattern
    let mut index: HashMap<Vec<LabelSet>, usize> = HashMap::new();
    for (u, &g) in gold.iter().enumerate() {
        let key: Vec<LabelSet> = std::iter::once(g)
            .chain(systems.iter().map(|(_, s)| s[u]))
            .collect();
        let next = patterns.len();
        let id = *index.entry(key).or_insert(next);
        if id == next {
            patterns.push(u);
        }
        pattern_of.push(id);
    }

    let pairs: Vec<(usize, usize)> = (0..s_count)
        .flat_map(|a| (a + 1..s_count).map(move |b| (a, b)))
        .collect();
    let resamples = opts.resamples.max(1);

    // Paired bootstrap: one resample serves every system and pair.
    let mut rng = Rng::new(opts.seed);
    let mut boot: Vec<Vec<Vec<f64>>> =
        vec![vec![Vec::with_capacity(resamples); n_metrics]; pairs.len()];
    let mut counts = vec![0i64; patterns.len()];
    for _ in 0..resamples {
        counts.iter_mut().for_each(|c| *c = 0);
        for _ in 0..n {
            counts[pattern_of[rng.below(n)]] += 1;
        }
        let values: Vec<Vec<f64>> = (0..s_count)
            .map(|s| {
                let mut t = vec![0; width];
                for (p, &u) in patterns.iter().enumerate() {
                    if counts[p] > 0 {
                        add(&mut t, &contributions[s][u], counts[p]);
                    }
                }
                metrics(&t, k)
            })
            .collect();
        for (series, &(a, b)) in boot.iter_mut().zip(&pairs) {
            for (m, values_m) in series.iter_mut().enumerate() {
                values_m.push(values[b][m] - values[a][m]);
            }
        }
    }

    let mut comparisons = Vec::new();
    for (pi, &(a, b)) in pairs.iter().enumerate() {
        let diff: Vec<f64> = (0..n_metrics)
            .map(|m| observed[b][m] - observed[a][m])
            .collect();
        let p_values = randomization(
            &contributions[a],
            &contributions[b],
            &systems[a].1,
            &systems[b].1,
            &totals[a],
            &totals[b],
            &diff,
            k,
            resamples,
            &mut Rng::new(opts.seed ^ (0x5eed_0000 + pi as u64)),
        );
        let (mut only_a, mut only_b) = (0u64, 0u64);
        for ((g, sa), sb) in gold.iter().zip(&systems[a].1).zip(&systems[b].1) {
            let (ea, eb) = (g == sa, g == sb);
            only_a += (ea && !eb) as u64;
            only_b += (eb && !ea) as u64;
        }
        for (m, name) in names.iter().enumerate() {
            let mut sorted = std::mem::take(&mut boot[pi][m]);
            sorted.sort_by(f64::total_cmp);
            let exact = name == "exact_match";
            comparisons.push(Comparison {
                index_a: a + 1,
                index_b: b + 1,
                system_a: systems[a].0.clone(),
                system_b: systems[b].0.clone(),
                metric: name.clone(),
                value_a: observed[a][m],
                value_b: observed[b][m],
                diff: diff[m],
                ci_low: percentile(&sorted, 0.025),
                ci_high: percentile(&sorted, 0.975),
                p_value: if exact {
                    mcnemar_exact(only_a, only_b)
                } else {
                    p_values[m]
                },
                test: if exact {
                    "mcnemar-exact"
                } else {
                    "randomization"
                },
            });
        }
    }
    comparisons
}

/// Paired approximate randomization for every metric at once: two-sided p-values.
#[allow(clippy::too_many_arguments)]
fn randomization(
    ca: &[Sums],
    cb: &[Sums],
    sa: &[LabelSet],
    sb: &[LabelSet],
    total_a: &[i64],
    total_b: &[i64],
    observed: &[f64],
    k: usize,
    rounds: usize,
    rng: &mut Rng,
) -> Vec<f64> {
    // Only paragraphs where A and B differ change anything when swapped.
    let differing: Vec<(Vec<i64>, Vec<i64>)> = (0..sa.len())
        .filter(|&u| sa[u] != sb[u])
        .map(|u| {
            let to_b: Vec<i64> = cb[u].iter().zip(&ca[u]).map(|(b, a)| b - a).collect();
            let to_a: Vec<i64> = to_b.iter().map(|d| -d).collect();
            (to_b, to_a)
        })
        .collect();
    let mut extreme = vec![0usize; observed.len()];
    let tolerance = 1e-12;
    for _ in 0..rounds {
        let mut ta = total_a.to_vec();
        let mut tb = total_b.to_vec();
        let mut bits = 0u64;
        for (i, (to_b, to_a)) in differing.iter().enumerate() {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            if bits & 1 == 1 {
                add(&mut ta, to_b, 1);
                add(&mut tb, to_a, 1);
            }
            bits >>= 1;
        }
        let (ma, mb) = (metrics(&ta, k), metrics(&tb, k));
        for (((e, a), b), d) in extreme.iter_mut().zip(&ma).zip(&mb).zip(observed) {
            if (b - a).abs() >= d.abs() - tolerance {
                *e += 1;
            }
        }
    }
    extreme
        .iter()
        .map(|&e| (1 + e) as f64 / (1 + rounds) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits() -> Vec<LabelSet> {
        Label::ALL
            .iter()
            .map(|&l| super::super::formats::label_bit(l))
            .collect()
    }

    #[test]
    fn mcnemar_small_and_large() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        // 2 * P(X <= 1), X ~ Bin(10, .5) = 2 * 11 / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-15);
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-15);
        // n = 2000: 2^-2000 underflows f64, the log-space sum does not.
        let p = mcnemar_exact(900, 1100);
        assert!(p > 0.0 && p < 1e-5, "{p}");
    }

    #[test]
    fn identical_systems_give_zero_difference_and_p_one() {
        let gold: Vec<LabelSet> = (0..40).map(|i| (i * 7 % 16) as LabelSet).collect();
        let sys: Vec<LabelSet> = (0..40).map(|i| (i * 5 % 16) as LabelSet).collect();
        let s = compare(
            &gold,
            &[("a".into(), sys.clone()), ("b".into(), sys)],
            &Label::ALL,
            &bits(),
            SignificanceOptions {
                resamples: 200,
                seed: 1,
            },
        );
        assert_eq!(s.len(), 7);
        for c in &s {
            assert_eq!(
                (c.diff, c.ci_low, c.ci_high, c.p_value),
                (0.0, 0.0, 0.0, 1.0)
            );
        }
    }

    #[test]
    fn seeded_runs_repeat_and_a_clear_difference_is_significant() {
        let gold: Vec<LabelSet> = (0..200).map(|i| (i % 16) as LabelSet).collect();
        let good = gold.clone();
        let bad: Vec<LabelSet> = gold.iter().map(|g| g ^ 0b0101).collect();
        let systems = [("bad".to_string(), bad), ("good".to_string(), good)];
        let opts = SignificanceOptions {
            resamples: 500,
            seed: 7,
        };
        let one = compare(&gold, &systems, &Label::ALL, &bits(), opts);
        let two = compare(&gold, &systems, &Label::ALL, &bits(), opts);
        assert_eq!(one, two);
        let macro_ = &one[0];
        assert_eq!(macro_.metric, "macro_f1");
        assert!(macro_.diff > 0.0 && macro_.ci_low > 0.0 && macro_.p_value < 0.01);
        let exact = one.last().unwrap();
        assert_eq!(exact.metric, "exact_match");
        assert_eq!(exact.diff, 1.0);
        assert!(exact.p_value < 1e-50);
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!((percentile(&v, 0.025) - 1.075).abs() < 1e-12);
    }
}
