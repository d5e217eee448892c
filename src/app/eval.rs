//! `veille eval`: classify a labelled corpus (a split of the written corpus, or a whole
//! held-out set such as `../shared/realnews`, whose files carry no `split`) and score the
//! predictions against its gold labels.
//!
//! The scoring itself is `veille compare` (per-label P/R/F1, micro/macro F1, per language,
//! exact match, disagreements); eval adds what only predictions with scores can show:
//! the expected calibration error of the scores and the most frequent confusions
//! (gold label set -> predicted label set), which is where error analysis starts.

use crate::cli::EvalArgs;
use crate::compare::ReportFormat;
use crate::corpus::{self, LabelledParagraph};
use crate::ingest::{Document, Input};
use crate::labels::Label;
use crate::record::Record;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many confusions the report lists.
const WORST_CONFUSIONS: usize = 8;

pub fn run(args: &EvalArgs) -> Result<i32> {
    let paras = corpus::load(&args.corpus)?;
    let chosen: Vec<&LabelledParagraph> = paras
        .iter()
        .filter(|p| args.split.as_ref().is_none_or(|s| &p.split == s))
        .collect();
    if chosen.is_empty() {
        bail!("no paragraphs in split {:?}", args.split);
    }
    let mut pipeline = super::load_pipeline(&args.model)?;
    let records = pipeline.process(&documents(&chosen));
    let tmp = TempDir::new()?;
    let gold_path = tmp.0.join("gold.jsonl");
    write_jsonl(
        &gold_path,
        chosen.iter().map(
            |p| serde_json::json!({"id": p.id, "labels": p.labels, "lang": p.lang, "text": p.text}),
        ),
    )?;
    let pred_path = args
        .predictions
        .clone()
        .unwrap_or_else(|| tmp.0.join("predictions.jsonl"));
    write_jsonl(&pred_path, &records)?;
    let report_path = tmp.0.join("report");
    compare_files(&gold_path, &pred_path, args.format, &report_path)?;
    let report = std::fs::read_to_string(&report_path)?;
    let extras = Extras::of(&chosen, &records);
    let mut out = std::io::stdout().lock();
    if args.format == ReportFormat::Json {
        let mut v: serde_json::Value = serde_json::from_str(&report)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("ece".into(), serde_json::json!(extras.ece));
            obj.insert(
                "worst_confusions".into(),
                serde_json::to_value(&extras.confusions)?,
            );
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        out.write_all(report.as_bytes())?;
        // ECE and the worst confusions follow the text reports; CSV and HTML stay whole.
        if matches!(args.format, ReportFormat::Table | ReportFormat::Markdown) {
            write!(
                out,
                "{}",
                extras.render(args.format == ReportFormat::Markdown)
            )?;
        }
    }
    out.flush()?;
    Ok(crate::cli::EXIT_OK)
}

/// A gold label set that the model turned into another set, how often, and examples.
#[derive(Debug, serde::Serialize, PartialEq)]
struct Confusion {
    gold: Vec<Label>,
    predicted: Vec<Label>,
    count: usize,
    ids: Vec<String>,
}

/// Calibration and confusions of scored predictions against gold labels.
struct Extras {
    /// Expected calibration error, pooled over the four labels (10 equal-width bins).
    ece: f64,
    confusions: Vec<Confusion>,
}

impl Extras {
    fn of(gold: &[&LabelledParagraph], records: &[Record]) -> Extras {
        let mut p = Vec::new();
        let mut y = Vec::new();
        let mut pairs: BTreeMap<(Vec<Label>, Vec<Label>), Vec<String>> = BTreeMap::new();
        for (g, r) in gold.iter().zip(records) {
            if r.error.is_some() {
                continue;
            }
            for l in Label::ALL {
                p.push(r.scores.get(&l).copied().unwrap_or(0.0));
                y.push(g.labels.contains(&l) as u8 as f32);
            }
            let mut gl = g.labels.clone();
            gl.sort();
            if gl != r.labels {
                pairs
                    .entry((gl, r.labels.clone()))
                    .or_default()
                    .push(g.id.clone());
            }
        }
        let mut confusions: Vec<Confusion> = pairs
            .into_iter()
            .map(|((gold, predicted), ids)| Confusion {
                gold,
                predicted,
                count: ids.len(),
                ids,
            })
            .collect();
        confusions.sort_by_key(|c| std::cmp::Reverse(c.count));
        confusions.truncate(WORST_CONFUSIONS);
        Extras {
            ece: crate::classify::train::expected_calibration_error(&p, &y),
            confusions,
        }
    }

    fn render(&self, markdown: bool) -> String {
        let set = |ls: &[Label]| {
            if ls.is_empty() {
                "(none)".to_string()
            } else {
                ls.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("+")
            }
        };
        let mut s = String::new();
        if markdown {
            s.push_str(&format!(
                "\n## Calibration\n\nECE (10 bins, pooled over labels): {:.3}\n\n## Worst confusions\n\n| gold | predicted | n | examples |\n|---|---|---|---|\n",
                self.ece
            ));
        } else {
            s.push_str(&format!(
                "\ncalibration: ECE {:.3} (10 bins, pooled over labels)\nworst confusions (gold -> predicted: count, examples):\n",
                self.ece
            ));
        }
        for c in &self.confusions {
            let examples = c.ids.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
            if markdown {
                s.push_str(&format!(
                    "| {} | {} | {} | {examples} |\n",
                    set(&c.gold),
                    set(&c.predicted),
                    c.count
                ));
            } else {
                s.push_str(&format!(
                    "  {} -> {}: {} ({examples})\n",
                    set(&c.gold),
                    set(&c.predicted),
                    c.count
                ));
            }
        }
        s
    }
}

/// Groups labelled paragraphs into documents (in corpus order) for the pipeline; a
/// corpus without `doc` fields (a held-out set) gets one document per paragraph.
pub(crate) fn documents(paras: &[&LabelledParagraph]) -> Vec<Document> {
    let mut docs: Vec<Document> = Vec::new();
    for p in paras {
        let input = Input {
            id: p.id.clone(),
            doc: p.doc.clone(),
            para: docs
                .last()
                .filter(|d| d.name == p.doc)
                .map(|d| d.inputs.len() + 1)
                .unwrap_or(1),
            text: p.text.clone(),
            meta: None,
            error: None,
        };
        match docs.last_mut() {
            Some(d) if d.name == p.doc && !p.doc.is_empty() => d.inputs.push(input),
            _ => docs.push(Document {
                name: p.doc.clone(),
                inputs: vec![input],
            }),
        }
    }
    docs
}

fn write_jsonl<T: serde::Serialize>(path: &Path, rows: impl IntoIterator<Item = T>) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?,
    );
    for r in rows {
        serde_json::to_writer(&mut f, &r)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}

/// A scratch folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("veille-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `compare GOLD PRED --format F -o OUT` through the compare module.
fn compare_files(gold: &Path, pred: &Path, format: ReportFormat, out: &Path) -> Result<()> {
    crate::compare::run(&crate::compare::CompareOptions {
        files: vec![gold.to_path_buf(), pred.to_path_buf()],
        format,
        output: Some(out.to_path_buf()),
        input_format: Vec::new(),
        format_a: None,
        format_b: None,
        labels: Vec::new(),
        max_disagreements: 25,
        quiet: true,
        significance: false,
        resamples: 10_000,
        seed: 1,
        by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(id: &str, labels: Vec<Label>) -> LabelledParagraph {
        LabelledParagraph {
            id: id.into(),
            doc: String::new(),
            event: String::new(),
            lang: "en".into(),
            split: String::new(),
            genre: String::new(),
            text: "t".into(),
            labels,
        }
    }

    #[test]
    fn confusions_count_differing_sets_only() {
        let gold = [
            para("a", vec![Label::CorporateDenial]),
            para("b", vec![Label::CorporateDenial]),
            para("c", vec![Label::Regulation]),
        ];
        let refs: Vec<&LabelledParagraph> = gold.iter().collect();
        let mut recs: Vec<Record> = Vec::new();
        for (g, labels) in gold.iter().zip([vec![], vec![], vec![Label::Regulation]]) {
            let input = Input {
                id: g.id.clone(),
                doc: String::new(),
                para: 1,
                text: g.text.clone(),
                meta: None,
                error: None,
            };
            let mut r = crate::pipeline::base_record(&input, "embed", "m");
            r.labels = labels;
            recs.push(r);
        }
        let e = Extras::of(&refs, &recs);
        assert_eq!(e.confusions.len(), 1);
        assert_eq!(e.confusions[0].count, 2);
        assert_eq!(e.confusions[0].gold, vec![Label::CorporateDenial]);
        assert!(e.confusions[0].predicted.is_empty());
        assert!(e.render(false).contains("corporate-denial -> (none): 2"));
    }
}
