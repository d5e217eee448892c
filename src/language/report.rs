//! Accuracy of language detection against gold labels, per language and length bucket
//! (`veille detect --report`). Gold languages other than sv, en and fr are expected to
//! come out as `und`. The report ends with the figures the detector is held to (see
//! [`Targets`]), one per line, so that tests and people read the same numbers.

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

/// The Scandinavian neighbours that must never be taken for Swedish.
pub const SWEDISH_NEIGHBOURS: [&str; 3] = ["da", "nb", "nn"];

/// The bucket short lines (headlines, ledes, captions) are held to.
pub const SHORT_BUCKET: &str = "20-59";
/// The bucket full paragraphs are held to.
pub const LONG_BUCKET: &str = "100+";

/// The thresholds `--report` checks.
pub struct Targets;

impl Targets {
    /// Short lines (20-59 characters) right, per supported language.
    pub const SHORT_ACCURACY: f64 = 0.95;
    /// Paragraphs of 100+ characters right, all gold languages.
    pub const LONG_ACCURACY: f64 = 0.99;
    /// Other distractors (de, es, it, nl, ...) reported as `und`.
    pub const OTHER_UND: f64 = 0.95;
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
    /// Danish/Norwegian records: (taken for Swedish, total)
    neighbours: (usize, usize),
    /// Other non-supported records: (reported `und`, total)
    others: (usize, usize),
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
        if SWEDISH_NEIGHBOURS.contains(&gold) {
            self.neighbours.0 += (r.lang == "sv") as usize;
            self.neighbours.1 += 1;
        } else if !super::SUPPORTED.contains(&gold) {
            self.others.0 += (r.lang == "und") as usize;
            self.others.1 += 1;
        }
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

    /// Accuracy of one gold language within one bucket.
    pub fn cell_accuracy(&self, lang: &str, bucket: &str) -> Option<f64> {
        let (r, t) = self.cells.get(&(lang.to_string(), bucket)).copied()?;
        (t > 0).then(|| r as f64 / t as f64)
    }

    /// The target lines: `target <name>: <value> (<requirement>) ok|FAIL`.
    pub fn targets(&self) -> Vec<(String, bool)> {
        let mut lines = Vec::new();
        let pct = |a: f64| format!("{:.1}%", 100.0 * a);
        for lang in super::SUPPORTED {
            if let Some(a) = self.cell_accuracy(lang, SHORT_BUCKET) {
                let (_, t) = self.cells[&(lang.to_string(), SHORT_BUCKET)];
                let ok = a >= Targets::SHORT_ACCURACY;
                lines.push((
                    format!(
                        "target short-{lang}: {} of {t} lines of {SHORT_BUCKET} characters (>= {})",
                        pct(a),
                        pct(Targets::SHORT_ACCURACY)
                    ),
                    ok,
                ));
            }
        }
        if self.neighbours.1 > 0 {
            // No Danish or Norwegian record may be reported as Swedish.
            let ok = self.neighbours.0 == 0;
            lines.push((
                format!(
                    "target da-nb-as-sv: {} of {} (must be 0)",
                    self.neighbours.0, self.neighbours.1
                ),
                ok,
            ));
        }
        if self.others.1 > 0 {
            let a = self.others.0 as f64 / self.others.1 as f64;
            lines.push((
                format!(
                    "target other-und: {} of {} (>= {})",
                    pct(a),
                    self.others.1,
                    pct(Targets::OTHER_UND)
                ),
                a >= Targets::OTHER_UND,
            ));
        }
        if let Some(a) = self.bucket_accuracy(LONG_BUCKET) {
            lines.push((
                format!(
                    "target long: {} of paragraphs of {LONG_BUCKET} characters (>= {})",
                    pct(a),
                    pct(Targets::LONG_ACCURACY)
                ),
                a >= Targets::LONG_ACCURACY,
            ));
        }
        lines
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
        for (line, ok) in self.targets() {
            s.push_str(&format!("{line} {}\n", if ok { "ok" } else { "FAIL" }));
        }
        for (gold, pred, text) in self.misses.iter().take(60) {
            s.push_str(&format!("  miss: gold {gold} -> {pred}: {text}\n"));
        }
        s
    }
}
