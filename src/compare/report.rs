//! The report: its serialisable shape (the `--format json` contract) and the plain-text,
//! Markdown and CSV renderings.

use super::formats::{Issue, LabelSet};
use super::metrics::{Confusion, Overall};
use super::significance::{Comparison, SignificanceSettings};
use super::slices::Slices;
use anyhow::Result;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt::Write as _;

/// An ordered map (taxonomy or language order) serialised as a JSON object.
#[derive(Debug, Clone)]
pub struct Keyed<T>(pub Vec<(String, T)>);

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed(Vec::new())
    }
}

impl<T> Keyed<T> {
    pub fn push(&mut self, k: &str, v: T) {
        self.0.push((k.to_string(), v));
    }
    pub fn get(&self, k: &str) -> Option<&T> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LabelStats {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Positives in the reference.
    pub support: u64,
    /// Positives in the prediction.
    pub predicted: u64,
    pub cohen_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LangStats {
    pub n: usize,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub exact_match: f64,
    pub hamming_loss: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PairReport {
    /// The reference.
    pub a: String,
    /// The file scored against it.
    pub b: String,
    #[serde(flatten)]
    pub overall: Overall,
    pub krippendorff_alpha_masi: Option<f64>,
    pub per_label: Keyed<LabelStats>,
    pub per_lang: Keyed<LangStats>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: &'static str,
    /// Records read (first occurrence of each id), error records included.
    pub records: usize,
    pub error_records: usize,
    pub unknown_labels: usize,
    pub duplicate_ids: usize,
    pub unreadable: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OnlyIn {
    pub file: String,
    pub count: usize,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Disagreement {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The labels in each file, in file order.
    pub labels: Vec<Vec<&'static str>>,
    /// Labels differing from the reference, summed over the other files.
    pub distance: u32,
    /// Evidence sentences the files give for their labels (`classify --evidence`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceNote>,
    #[serde(skip)]
    pub sets: Vec<LabelSet>,
}

/// One file's evidence sentence for one of its labels.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvidenceNote {
    /// The file's position (0 = the reference).
    pub file: usize,
    pub label: String,
    pub text: String,
}

/// Everything `veille compare` reports. The top level describes the first pair (reference
/// vs second file) plus the all-file agreement; `pairs` scores every file against the first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub reference: String,
    pub labels: Vec<String>,
    pub files: Vec<FileSummary>,
    /// Distinct ids over all files.
    pub n_ids: usize,
    /// Ids in every file and an error record in none: the ids scored.
    pub n_joined: usize,
    pub n_excluded_errors: usize,
    pub excluded_error_ids: Vec<String>,
    /// Per file (in order): the ids it has that some other file lacks.
    pub only_in: Vec<OnlyIn>,
    #[serde(flatten)]
    pub overall: Overall,
    /// Over all files.
    pub krippendorff_alpha_masi: Option<f64>,
    /// P/R/F1/kappa of the first pair; `krippendorff_alpha` over all files.
    pub per_label: Keyed<LabelStats>,
    /// Per label, over all files (3 or more files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleiss_kappa: Option<Keyed<Option<f64>>>,
    pub per_lang: Keyed<LangStats>,
    pub pairs: Vec<PairReport>,
    pub disagreements: Vec<Disagreement>,
    pub issues: Vec<Issue>,
    /// With `--significance`: every pair of systems (files after the reference), every metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub significance: Option<Vec<Comparison>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub significance_settings: Option<SignificanceSettings>,
    /// With `--by`: every metric per slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slices: Option<Slices>,
}

pub(super) fn num(x: f64) -> String {
    format!("{x:.3}")
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_else(|| "n/a".into())
}

/// Short names for files in tables: A, B, C, ...
pub fn letter(i: usize) -> String {
    char::from_u32('A' as u32 + (i as u32 % 26))
        .unwrap()
        .to_string()
}

/// Rows of a per-label table: label, P, R, F1, support, predicted, kappa, alpha, tp, fp, fn, tn.
fn label_rows(p: &PairReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (l, s) in p.per_label.iter() {
        let c = &s.confusion;
        rows.push(vec![
            l.to_string(),
            num(s.precision),
            num(s.recall),
            num(s.f1),
            s.support.to_string(),
            s.predicted.to_string(),
            opt(s.cohen_kappa),
            opt(s.krippendorff_alpha),
            c.tp.to_string(),
            c.fp.to_string(),
            c.fn_.to_string(),
            c.tn.to_string(),
        ]);
    }
    let o = &p.overall;
    let mut micro = vec![
        "micro".into(),
        num(o.micro_precision),
        num(o.micro_recall),
        num(o.micro_f1),
    ];
    micro.extend(vec![String::new(); 8]);
    let mut macro_ = vec![
        "macro".into(),
        num(o.macro_precision),
        num(o.macro_recall),
        num(o.macro_f1),
    ];
    macro_.extend(vec![String::new(); 8]);
    rows.push(micro);
    rows.push(macro_);
    rows
}

const LABEL_HEADER: [&str; 12] = [
    "label",
    "precision",
    "recall",
    "f1",
    "support",
    "predicted",
    "kappa",
    "alpha",
    "tp",
    "fp",
    "fn",
    "tn",
];

/// Columns before `left` are left-aligned, the others right-aligned.
pub(super) fn aligned(out: &mut String, header: &[&str], rows: &[Vec<String>], left: usize) {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i < left {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.iter().map(|h| h.to_string()).collect()));
    out.push_str(&line(w.iter().map(|&n| "-".repeat(n)).collect()));
    for r in rows {
        out.push_str(&line(r.clone()));
    }
}

pub(super) fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let esc = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
}

fn lang_rows(p: &PairReport) -> Vec<Vec<String>> {
    p.per_lang
        .iter()
        .map(|(l, s)| {
            vec![
                l.to_string(),
                s.n.to_string(),
                num(s.micro_f1),
                num(s.macro_f1),
                num(s.exact_match),
                num(s.hamming_loss),
            ]
        })
        .collect()
}

const LANG_HEADER: [&str; 6] = ["lang", "n", "micro-f1", "macro-f1", "exact", "hamming"];

fn agreement_rows(r: &Report) -> Vec<Vec<String>> {
    r.per_label
        .iter()
        .map(|(l, s)| {
            let mut row = vec![l.to_string(), opt(s.krippendorff_alpha)];
            if let Some(f) = &r.fleiss_kappa {
                row.push(opt(f.get(l).copied().flatten()));
            }
            row
        })
        .collect()
}

fn disagreement_rows(r: &Report, max: usize) -> Vec<Vec<String>> {
    r.disagreements
        .iter()
        .take(max)
        .map(|d| {
            let mut row = vec![d.id.clone()];
            row.extend(d.labels.iter().map(|ls| {
                if ls.is_empty() {
                    "-".to_string()
                } else {
                    ls.join(",")
                }
            }));
            row.push(
                d.text
                    .clone()
                    .map(|t| t.chars().take(60).collect())
                    .unwrap_or_default(),
            );
            row
        })
        .collect()
}

fn header_lines(r: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, f) in r.files.iter().enumerate() {
        lines.push(format!(
            "{} = {} ({}): {} records, {} error records, {} unknown labels, {} duplicate ids, {} unreadable",
            letter(i),
            f.path,
            f.format,
            f.records,
            f.error_records,
            f.unknown_labels,
            f.duplicate_ids,
            f.unreadable
        ));
    }
    let mut join = format!("joined {} of {} ids", r.n_joined, r.n_ids);
    for (i, o) in r.only_in.iter().enumerate() {
        if o.count > 0 {
            let _ = write!(join, "; only in {}: {}", letter(i), o.count);
        }
    }
    if r.n_excluded_errors > 0 {
        let _ = write!(join, "; excluded as error records: {}", r.n_excluded_errors);
    }
    lines.push(join);
    lines
}

fn overall_line(p: &PairReport) -> String {
    format!(
        "exact match {} · hamming loss {} · micro-F1 {} · macro-F1 {} · alpha (MASI) {}",
        num(p.overall.exact_match),
        num(p.overall.hamming_loss),
        num(p.overall.micro_f1),
        num(p.overall.macro_f1),
        opt(p.krippendorff_alpha_masi)
    )
}

/// The default plain-text report.
pub fn table(r: &Report, max_disagreements: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "veille compare: reference A = {}", r.reference);
    for l in header_lines(r) {
        let _ = writeln!(out, "{l}");
    }
    for (i, p) in r.pairs.iter().enumerate() {
        let _ = writeln!(out, "\n{} vs A ({} against {})", letter(i + 1), p.b, p.a);
        aligned(&mut out, &LABEL_HEADER, &label_rows(p), 1);
        let _ = writeln!(out, "{}", overall_line(p));
        if !p.per_lang.is_empty() {
            let _ = writeln!(out);
            aligned(&mut out, &LANG_HEADER, &lang_rows(p), 1);
        }
    }
    if r.files.len() >= 3 {
        let _ = writeln!(out, "\nagreement over all {} files", r.files.len());
        aligned(
            &mut out,
            &["label", "krippendorff-alpha", "fleiss-kappa"],
            &agreement_rows(r),
            1,
        );
        let _ = writeln!(
            out,
            "krippendorff alpha (MASI, label sets): {}",
            opt(r.krippendorff_alpha_masi)
        );
    }
    super::sections::table(r, &mut out);
    if !r.disagreements.is_empty() {
        let shown = r.disagreements.len().min(max_disagreements);
        let _ = writeln!(
            out,
            "\ndisagreements: {} (showing {shown}, most labels differing first)",
            r.disagreements.len()
        );
        if shown > 0 {
            let mut header = vec!["id".to_string()];
            header.extend((0..r.files.len()).map(letter));
            header.push("text".into());
            let h: Vec<&str> = header.iter().map(String::as_str).collect();
            aligned(
                &mut out,
                &h,
                &disagreement_rows(r, max_disagreements),
                usize::MAX,
            );
        }
    }
    out
}

/// The same report as Markdown tables.
pub fn markdown(r: &Report, max_disagreements: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# veille compare\n");
    for l in header_lines(r) {
        let _ = writeln!(out, "- {}", l.replace('|', "\\|"));
    }
    for (i, p) in r.pairs.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n## {} vs A: `{}` against `{}`\n",
            letter(i + 1),
            p.b,
            p.a
        );
        md_table(&mut out, &LABEL_HEADER, &label_rows(p));
        let _ = writeln!(out, "\n{}", overall_line(p));
        if !p.per_lang.is_empty() {
            let _ = writeln!(out, "\n### Per language\n");
            md_table(&mut out, &LANG_HEADER, &lang_rows(p));
        }
    }
    if r.files.len() >= 3 {
        let _ = writeln!(out, "\n## Agreement over all {} files\n", r.files.len());
        md_table(
            &mut out,
            &["label", "krippendorff-alpha", "fleiss-kappa"],
            &agreement_rows(r),
        );
        let _ = writeln!(
            out,
            "\nKrippendorff's alpha (MASI, label sets): {}",
            opt(r.krippendorff_alpha_masi)
        );
    }
    super::sections::markdown(r, &mut out);
    if !r.disagreements.is_empty() {
        let shown = r.disagreements.len().min(max_disagreements);
        let _ = writeln!(
            out,
            "\n## Disagreements: {} (showing {shown})\n",
            r.disagreements.len()
        );
        if shown > 0 {
            let mut header = vec!["id".to_string()];
            header.extend((0..r.files.len()).map(letter));
            header.push("text".into());
            let h: Vec<&str> = header.iter().map(String::as_str).collect();
            md_table(&mut out, &h, &disagreement_rows(r, max_disagreements));
        }
    }
    out
}

/// Long CSV: one number per row, `file_a,file_b,scope,key,metric,value` (empty value: undefined).
pub fn csv(r: &Report) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["file_a", "file_b", "scope", "key", "metric", "value"])?;
    let f = |x: f64| format!("{x}");
    let o = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    for p in &r.pairs {
        let mut row = |scope: &str, key: &str, metric: &str, value: String| {
            w.write_record([
                p.a.as_str(),
                p.b.as_str(),
                scope,
                key,
                metric,
                value.as_str(),
            ])
        };
        let ov = &p.overall;
        for (m, v) in [
            ("micro_precision", ov.micro_precision),
            ("micro_recall", ov.micro_recall),
            ("micro_f1", ov.micro_f1),
            ("macro_precision", ov.macro_precision),
            ("macro_recall", ov.macro_recall),
            ("macro_f1", ov.macro_f1),
            ("exact_match", ov.exact_match),
            ("hamming_loss", ov.hamming_loss),
        ] {
            row("overall", "", m, f(v))?;
        }
        row("overall", "", "n", ov.n.to_string())?;
        row(
            "overall",
            "",
            "krippendorff_alpha_masi",
            o(p.krippendorff_alpha_masi),
        )?;
        for (l, s) in p.per_label.iter() {
            for (m, v) in [
                ("precision", s.precision),
                ("recall", s.recall),
                ("f1", s.f1),
            ] {
                row("label", l, m, f(v))?;
            }
            row("label", l, "support", s.support.to_string())?;
            row("label", l, "predicted", s.predicted.to_string())?;
            row("label", l, "cohen_kappa", o(s.cohen_kappa))?;
            row("label", l, "krippendorff_alpha", o(s.krippendorff_alpha))?;
            let c = &s.confusion;
            for (m, v) in [("tp", c.tp), ("fp", c.fp), ("fn", c.fn_), ("tn", c.tn)] {
                row("label", l, m, v.to_string())?;
            }
        }
        for (lang, s) in p.per_lang.iter() {
            row("lang", lang, "n", s.n.to_string())?;
            for (m, v) in [
                ("micro_f1", s.micro_f1),
                ("macro_f1", s.macro_f1),
                ("exact_match", s.exact_match),
                ("hamming_loss", s.hamming_loss),
            ] {
                row("lang", lang, m, f(v))?;
            }
        }
    }
    super::sections::csv_rows(r, &mut w)?;
    let all = "*";
    let mut row = |scope: &str, key: &str, metric: &str, value: String| {
        w.write_record([
            r.reference.as_str(),
            all,
            scope,
            key,
            metric,
            value.as_str(),
        ])
    };
    row("all", "", "n_ids", r.n_ids.to_string())?;
    row("all", "", "n_joined", r.n_joined.to_string())?;
    row(
        "all",
        "",
        "n_excluded_errors",
        r.n_excluded_errors.to_string(),
    )?;
    for oi in &r.only_in {
        row("only_in", &oi.file, "count", oi.count.to_string())?;
    }
    row(
        "all",
        "",
        "krippendorff_alpha_masi",
        o(r.krippendorff_alpha_masi),
    )?;
    for (l, s) in r.per_label.iter() {
        row("all", l, "krippendorff_alpha", o(s.krippendorff_alpha))?;
    }
    if let Some(fk) = &r.fleiss_kappa {
        for (l, v) in fk.iter() {
            row("all", l, "fleiss_kappa", o(*v))?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// Lists the file issues and the ids left out of the join on `out` (stderr), at most 10 per
/// file and kind.
pub fn print_issues(r: &Report, out: &mut dyn std::io::Write) -> Result<()> {
    use std::collections::BTreeMap;
    let mut shown: BTreeMap<(&str, super::formats::IssueKind), usize> = BTreeMap::new();
    for i in &r.issues {
        let n = shown.entry((i.file.as_str(), i.kind)).or_default();
        *n += 1;
        if *n <= 10 {
            writeln!(out, "veille compare: {}:{}: {}", i.file, i.line, i.message)?;
        }
    }
    for ((file, kind), n) in shown {
        if n > 10 {
            writeln!(
                out,
                "veille compare: {file}: {} more {kind:?} issues (see --format json)",
                n - 10
            )?;
        }
    }
    for o in &r.only_in {
        if o.count > 0 {
            let some: Vec<&str> = o.ids.iter().take(10).map(String::as_str).collect();
            let more = if o.count > 10 {
                format!(" and {} more", o.count - 10)
            } else {
                String::new()
            };
            writeln!(
                out,
                "veille compare: {} ids only in {} (not in every file): {}{more}",
                o.count,
                o.file,
                some.join(", ")
            )?;
        }
    }
    if r.n_excluded_errors > 0 {
        writeln!(
            out,
            "veille compare: {} ids excluded as error records",
            r.n_excluded_errors
        )?;
    }
    Ok(())
}
