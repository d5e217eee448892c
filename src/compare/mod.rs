//! `veille compare`: agreement and accuracy between labelled files (issue 5).
//!
//! Files are read by [`formats`], joined on `id`, scored by [`metrics`] and rendered by
//! [`report`] (table, markdown, CSV, JSON) or [`html`]. The first file is the reference
//! ("gold") for precision, recall and F1; with three or more files every other file is
//! scored against it, and Fleiss' kappa and Krippendorff's alpha are computed over all.
//!
//! Join rules: an id is scored when it occurs in every file and is an error record in none;
//! ids missing from some file are listed under `only_in`, error records under
//! `excluded_error_ids`. Nothing is dropped silently.

pub mod formats;
pub mod html;
pub mod metrics;
pub mod report;
pub mod sections;
pub mod significance;
pub mod slices;

use crate::labels::Label;
use anyhow::{bail, Context, Result};
use formats::{label_bit, LabelFormat, LabelSet, LabelledFile};
use report::{
    Disagreement, EvidenceNote, FileSummary, Keyed, LabelStats, LangStats, OnlyIn, PairReport,
    Report,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// An aligned plain-text report (the default).
    Table,
    /// Everything, machine-readable (`micro_f1`, `per_label.<label>.f1`, `pairs`, ...).
    Json,
    /// Markdown tables, for a README or an issue.
    Markdown,
    /// Long ("tidy") CSV: file_a,file_b,scope,key,metric,value (one number per row).
    Csv,
    /// One self-contained HTML page with SVG charts (no network needed).
    Html,
}

/// What `veille compare` is asked to do (the command layer fills it from its arguments).
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Two or more labelled files (the first is the reference for P/R/F1).
    pub files: Vec<PathBuf>,
    /// Report format.
    pub format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    pub output: Option<PathBuf>,
    /// Input format of every file, or one per file in order (repeat the flag).
    pub input_format: Vec<LabelFormat>,
    /// Input format of the first file (overrides --input-format).
    pub format_a: Option<LabelFormat>,
    /// Input format of the second file (overrides --input-format).
    pub format_b: Option<LabelFormat>,
    /// Score only these labels (repeatable; espionage, influence-operation, corporate-denial,
    /// regulation); the others are removed from every label set.
    pub labels: Vec<Label>,
    /// Disagreements shown in table, markdown and HTML reports (JSON and CSV list all).
    pub max_disagreements: usize,
    /// Don't list file issues (unknown labels, duplicates, broken lines) on stderr.
    pub quiet: bool,
    /// For every pair of systems (the files after the first, the reference): a paired
    /// bootstrap 95% interval and an approximate-randomization p-value for the difference in
    /// macro-F1, micro-F1 and each label's F1, and McNemar's exact test on exact match.
    /// Needs a reference and at least two systems.
    pub significance: bool,
    /// Bootstrap resamples and randomization rounds for --significance.
    pub resamples: usize,
    /// Seed of the resampling (the same seed gives the same intervals and p-values).
    pub seed: u64,
    /// Every metric per slice: lang, doc, or meta.FIELD (e.g. meta.source, meta.month; the
    /// record's `meta` field, or a top-level field of gold JSONL).
    pub by: Option<slices::SliceBy>,
}

/// What to compute beyond the always-on figures.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub significance: Option<significance::SignificanceOptions>,
    pub by: Option<slices::SliceBy>,
}

/// Reads the files, computes the report and writes it (stdout or `output`).
pub fn run(args: &CompareOptions) -> Result<()> {
    let report = analyse(args)?;
    if !args.quiet {
        report::print_issues(&report, &mut std::io::stderr())?;
    }
    let text = match args.format {
        ReportFormat::Table => report::table(&report, args.max_disagreements),
        ReportFormat::Markdown => report::markdown(&report, args.max_disagreements),
        ReportFormat::Csv => report::csv(&report)?,
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Html => html::render(&report, args.max_disagreements),
    };
    match &args.output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

fn input_format(args: &CompareOptions, i: usize) -> Result<LabelFormat> {
    let explicit = match i {
        0 => args.format_a,
        1 => args.format_b,
        _ => None,
    };
    if let Some(f) = explicit {
        return Ok(f);
    }
    match args.input_format.len() {
        0 => Ok(LabelFormat::Auto),
        1 => Ok(args.input_format[0]),
        n if n == args.files.len() => Ok(args.input_format[i]),
        n => bail!(
            "--input-format given {n} times for {} files (give it once, or once per file)",
            args.files.len()
        ),
    }
}

/// Reads, joins and scores the files of `args`.
pub fn analyse(args: &CompareOptions) -> Result<Report> {
    let mut files = Vec::new();
    for (i, path) in args.files.iter().enumerate() {
        files.push(formats::read_file(path, input_format(args, i)?)?);
    }
    let bits: Vec<LabelSet> = if args.labels.is_empty() {
        Label::ALL.iter().map(|&l| label_bit(l)).collect()
    } else {
        Label::ALL
            .iter()
            .filter(|l| args.labels.contains(l))
            .map(|&l| label_bit(l))
            .collect()
    };
    let labels: Vec<Label> = Label::ALL
        .into_iter()
        .filter(|l| bits.contains(&label_bit(*l)))
        .collect();
    if args.significance && files.len() < 3 {
        bail!(
            "--significance compares systems with each other: give the reference and at least two systems (REF A B), got {} files",
            files.len()
        );
    }
    if args.significance && args.resamples == 0 {
        bail!("--resamples must be at least 1");
    }
    let opts = BuildOptions {
        significance: args
            .significance
            .then_some(significance::SignificanceOptions {
                resamples: args.resamples,
                seed: args.seed,
            }),
        by: args.by.clone(),
    };
    build(&files, &labels, &opts)
}

/// Joins `files` on id and computes every number over `labels`.
pub fn build(files: &[LabelledFile], labels: &[Label], opts: &BuildOptions) -> Result<Report> {
    let bits: Vec<LabelSet> = labels.iter().map(|&l| label_bit(l)).collect();
    let mask: LabelSet = bits.iter().fold(0, |a, b| a | b);
    let maps: Vec<HashMap<&str, &formats::Item>> = files
        .iter()
        .map(|f| f.items.iter().map(|it| (it.id.as_str(), it)).collect())
        .collect();

    // Every id, in order of first appearance (first file first).
    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for f in files {
        for it in &f.items {
            if seen.insert(it.id.as_str()) {
                order.push(it.id.as_str());
            }
        }
    }
    let mut joined: Vec<&str> = Vec::new();
    let mut excluded: Vec<String> = Vec::new();
    let mut only_in: Vec<OnlyIn> = files
        .iter()
        .map(|f| OnlyIn {
            file: f.display(),
            count: 0,
            ids: Vec::new(),
        })
        .collect();
    for &id in &order {
        let present: Vec<bool> = maps.iter().map(|m| m.contains_key(id)).collect();
        if present.iter().all(|&p| p) {
            if maps.iter().any(|m| m[id].error.is_some()) {
                excluded.push(id.to_string());
            } else {
                joined.push(id);
            }
        } else {
            for (i, p) in present.iter().enumerate() {
                if *p {
                    only_in[i].count += 1;
                    only_in[i].ids.push(id.to_string());
                }
            }
        }
    }
    if joined.is_empty() {
        let names: Vec<String> = files.iter().map(LabelledFile::display).collect();
        bail!(
            "no id is common to all of {} (with no error record); nothing to compare{}",
            names.join(", "),
            if excluded.is_empty() {
                String::new()
            } else {
                format!(" ({} ids excluded as error records)", excluded.len())
            }
        );
    }

    // sets[c][u]: file c's label set on joined id u, restricted to `labels`.
    let sets: Vec<Vec<LabelSet>> = maps
        .iter()
        .map(|m| joined.iter().map(|id| m[id].labels & mask).collect())
        .collect();
    let langs: Vec<Option<String>> = joined
        .iter()
        .map(|id| maps.iter().find_map(|m| m[id].lang.clone()))
        .collect();
    let texts: Vec<Option<String>> = joined
        .iter()
        .map(|id| maps.iter().find_map(|m| m[id].text.clone()))
        .collect();

    let pairs: Vec<PairReport> = (1..files.len())
        .map(|b| pair(files, &sets, &langs, labels, &bits, 0, b))
        .collect();

    let mut per_label = Keyed::default();
    let mut fleiss = Keyed::default();
    for (k, &l) in labels.iter().enumerate() {
        let cols: Vec<Vec<bool>> = sets.iter().map(|s| metrics::column(s, bits[k])).collect();
        let mut stats = pairs[0]
            .per_label
            .get(l.as_str())
            .cloned()
            .expect("pair has every label");
        stats.krippendorff_alpha = metrics::krippendorff_nominal(&cols);
        per_label.push(l.as_str(), stats);
        fleiss.push(l.as_str(), metrics::fleiss_kappa(&cols));
    }

    let mut disagreements: Vec<Disagreement> = Vec::new();
    for (u, id) in joined.iter().enumerate() {
        let row: Vec<LabelSet> = sets.iter().map(|s| s[u]).collect();
        if row.iter().all(|&s| s == row[0]) {
            continue;
        }
        let distance: u32 = row[1..].iter().map(|s| (s ^ row[0]).count_ones()).sum();
        disagreements.push(Disagreement {
            id: id.to_string(),
            lang: langs[u].clone(),
            text: texts[u].as_deref().map(snippet),
            labels: row.iter().map(|&s| formats::set_names(s)).collect(),
            distance,
            sets: row,
            evidence: maps
                .iter()
                .enumerate()
                .flat_map(|(c, m)| {
                    m[id]
                        .evidence
                        .iter()
                        .map(move |(label, text)| EvidenceNote {
                            file: c,
                            label: label.clone(),
                            text: text.clone(),
                        })
                })
                .collect(),
        });
    }
    disagreements.sort_by(|a, b| {
        b.distance
            .cmp(&a.distance)
            .then_with(|| a.sets.cmp(&b.sets))
            .then(a.id.cmp(&b.id))
    });

    let names: Vec<String> = files.iter().map(LabelledFile::display).collect();
    let (significance, significance_settings) = match opts.significance {
        Some(o) => {
            let systems: Vec<(String, Vec<LabelSet>)> = names[1..]
                .iter()
                .cloned()
                .zip(sets[1..].iter().cloned())
                .collect();
            (
                Some(significance::compare(&sets[0], &systems, labels, &bits, o)),
                Some(significance::SignificanceSettings::new(o, joined.len())),
            )
        }
        None => (None, None),
    };
    let slices = opts.by.as_ref().map(|by| {
        let values: Vec<Option<String>> = joined
            .iter()
            .map(|id| maps.iter().find_map(|m| by.value(m[id])))
            .collect();
        slices::build(by, &values, &sets, &names, labels, &bits)
    });

    let first = &pairs[0];
    Ok(Report {
        reference: files[0].display(),
        labels: labels.iter().map(|l| l.as_str().to_string()).collect(),
        files: files.iter().map(summary).collect(),
        n_ids: order.len(),
        n_joined: joined.len(),
        n_excluded_errors: excluded.len(),
        excluded_error_ids: excluded,
        only_in,
        overall: first.overall.clone(),
        krippendorff_alpha_masi: metrics::krippendorff_masi(&sets),
        per_label,
        fleiss_kappa: if files.len() >= 3 { Some(fleiss) } else { None },
        per_lang: first.per_lang.clone(),
        pairs,
        disagreements,
        issues: files
            .iter()
            .flat_map(|f| f.issues.iter().cloned())
            .collect(),
        significance,
        significance_settings,
        slices,
    })
}

fn summary(f: &LabelledFile) -> FileSummary {
    use formats::IssueKind::*;
    FileSummary {
        path: f.display(),
        format: f.format.name(),
        records: f.items.len(),
        error_records: f.count(ErrorRecord),
        unknown_labels: f.count(UnknownLabel),
        duplicate_ids: f.count(DuplicateId),
        unreadable: f.count(Unreadable),
    }
}

/// Scores file `b` against file `a` over the joined ids.
fn pair(
    files: &[LabelledFile],
    sets: &[Vec<LabelSet>],
    langs: &[Option<String>],
    labels: &[Label],
    bits: &[LabelSet],
    a: usize,
    b: usize,
) -> PairReport {
    let (gold, pred) = (&sets[a], &sets[b]);
    let confusions = metrics::confusions(gold, pred, bits);
    let mut per_label = Keyed::default();
    for (k, &l) in labels.iter().enumerate() {
        let c = confusions[k];
        let cols = [
            metrics::column(gold, bits[k]),
            metrics::column(pred, bits[k]),
        ];
        per_label.push(
            l.as_str(),
            LabelStats {
                precision: c.precision(),
                recall: c.recall(),
                f1: c.f1(),
                support: c.support(),
                predicted: c.predicted(),
                cohen_kappa: c.cohen_kappa(),
                krippendorff_alpha: metrics::krippendorff_nominal(&cols),
                confusion: c,
            },
        );
    }
    let mut by_lang: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (u, lang) in langs.iter().enumerate() {
        if let Some(l) = lang {
            by_lang.entry(l.as_str()).or_default().push(u);
        }
    }
    let mut per_lang = Keyed::default();
    for (lang, idx) in by_lang {
        let g: Vec<LabelSet> = idx.iter().map(|&u| gold[u]).collect();
        let p: Vec<LabelSet> = idx.iter().map(|&u| pred[u]).collect();
        let o = metrics::overall(&g, &p, bits);
        per_lang.push(
            lang,
            LangStats {
                n: o.n,
                micro_f1: o.micro_f1,
                macro_f1: o.macro_f1,
                exact_match: o.exact_match,
                hamming_loss: o.hamming_loss,
            },
        );
    }
    PairReport {
        a: files[a].display(),
        b: files[b].display(),
        overall: metrics::overall(gold, pred, bits),
        krippendorff_alpha_masi: metrics::krippendorff_masi(&[gold.clone(), pred.clone()]),
        per_label,
        per_lang,
    }
}

/// The first 120 characters of a text, on one line.
fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(120).collect();
    if flat.chars().count() > 120 {
        out.push('…');
    }
    out
}
