//! Accuracy of language detection against gold labels, per language and length bucket
//! (`veille detect --report`). Gold languages other than sv, en and fr are expected to
//! come out as `und`.

use crate::record::Record;
use std::collections::BTreeMap;

/// Length buckets in characters: headline-length lines are the hard case.
pub const BUCKETS: [(&str, usize, usize); 4] = [
    ("<20", 0, 20),
    ("20-59", 20, 60),
    ("60-99", 60, 100),
    ("100+", 100, usize::MAX),
];

pub fn bucket_of(chars: usize) -> &'static str {
    BUCKETS
        .iter()
        .find(|(_, lo, hi)| chars >= *lo && chars < *hi)
        .map(|b| b.0)
        .unwrap_or("100+")
}

/// What a gold language should be reported as.
pub fn expected_output(gold: &str) -> &str {
    if super::SUPPORTED.contains(&gold) {
        gold
    } else {
        "und"
    }
}

#[derive(Debug, Default)]
pub struct AccuracyReport {
    /// (gold language, bucket) -> (right, total)
    cells: BTreeMap<(String, &'static str), (usize, usize)>,
    /// Misses, for the report: (gold, predicted, text)
    pub misses: Vec<(String, String, String)>,
}

impl AccuracyReport {
    /// Counts one record whose `meta.lang` holds the gold language (others are ignored).
    pub fn add(&mut self, r: &Record) {
        let Some(gold) = r
            .meta
            .as_ref()
            .and_then(|m| m.get("lang"))
            .and_then(|v| v.as_str())
        else {
            return;
        };
        if r.is_error() {
            return;
        }
        let bucket = bucket_of(r.text.chars().count());
        let right = r.lang == expected_output(gold);
        let cell = self.cells.entry((gold.to_string(), bucket)).or_default();
        cell.0 += right as usize;
        cell.1 += 1;
        if !right {
            self.misses
                .push((gold.to_string(), r.lang.clone(), r.text.clone()));
        }
    }

    /// Accuracy over all gold languages within one bucket.
    pub fn bucket_accuracy(&self, bucket: &str) -> Option<f64> {
        let (r, t) = self
            .cells
            .iter()
            .filter(|((_, b), _)| *b == bucket)
            .fold((0, 0), |acc, (_, (r, t))| (acc.0 + r, acc.1 + t));
        (t > 0).then(|| r as f64 / t as f64)
    }

    pub fn total(&self) -> (usize, usize) {
        self.cells
            .values()
            .fold((0, 0), |acc, (r, t)| (acc.0 + r, acc.1 + t))
    }

    pub fn render(&self) -> String {
        let mut s = String::from(
            "language detection accuracy (right/total) by gold language and length:\n",
        );
        s.push_str(&format!("{:<6}", "lang"));
        for (b, _, _) in BUCKETS {
            s.push_str(&format!("{b:>16}"));
        }
        s.push('\n');
        let langs: std::collections::BTreeSet<&String> =
            self.cells.keys().map(|(l, _)| l).collect();
        for lang in langs {
            s.push_str(&format!("{lang:<6}"));
            for (b, _, _) in BUCKETS {
                match self.cells.get(&(lang.clone(), b)) {
                    Some((r, t)) => s.push_str(&format!(
                        "{:>16}",
                        format!("{r}/{t} {:.1}%", 100.0 * *r as f64 / *t as f64)
                    )),
                    None => s.push_str(&format!("{:>16}", "-")),
                }
            }
            s.push('\n');
        }
        s.push_str(&format!("{:<6}", "all"));
        for (b, _, _) in BUCKETS {
            match self.bucket_accuracy(b) {
                Some(a) => s.push_str(&format!("{:>16}", format!("{:.1}%", 100.0 * a))),
                None => s.push_str(&format!("{:>16}", "-")),
            }
        }
        let (r, t) = self.total();
        s.push_str(&format!("\noverall {r}/{t}\n"));
        for (gold, pred, text) in self.misses.iter().take(30) {
            s.push_str(&format!("  miss: gold {gold} -> {pred}: {text}\n"));
        }
        s
    }
}
