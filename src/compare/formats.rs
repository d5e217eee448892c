//! Readers for the labelled files `veille compare` accepts: veille's own JSON Lines records
//! and plain gold JSONL (`id`, `labels`), doccano JSONL (`label`), Label Studio JSON exports
//! (`choices` results) and SemEval-style TSV (`id<TAB>label1,label2`).
//!
//! Nothing in a file is fatal except not being able to read it at all: broken lines, unknown
//! labels and duplicate ids become [`Issue`]s naming the file and line, and the line (or the
//! label) is skipped.

use crate::labels::Label;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A label set: bit `i` is `Label::ALL[i]`.
pub type LabelSet = u8;

pub fn label_bit(l: Label) -> LabelSet {
    1 << l.index()
}

pub fn set_labels(set: LabelSet) -> Vec<Label> {
    Label::ALL
        .into_iter()
        .filter(|l| set & label_bit(*l) != 0)
        .collect()
}

pub fn set_names(set: LabelSet) -> Vec<&'static str> {
    set_labels(set).into_iter().map(|l| l.as_str()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFormat {
    /// By content: a JSON array is Label Studio, `{` lines are JSONL (`labels`) or doccano
    /// (`label`), tab-separated lines are TSV.
    Auto,
    /// veille records or plain gold JSONL: `id` and `labels`.
    Jsonl,
    /// doccano JSONL: `id` (or `veille_id`) and `label`.
    Doccano,
    /// Label Studio JSON export: an array of tasks with `choices` annotations or predictions.
    LabelStudio,
    /// SemEval-style TSV: `id<TAB>label1,label2`.
    Tsv,
}

impl LabelFormat {
    pub fn name(self) -> &'static str {
        match self {
            LabelFormat::Auto => "auto",
            LabelFormat::Jsonl => "jsonl",
            LabelFormat::Doccano => "doccano",
            LabelFormat::LabelStudio => "label-studio",
            LabelFormat::Tsv => "tsv",
        }
    }
}

/// One labelled item of a file.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub labels: LabelSet,
    pub lang: Option<String>,
    pub text: Option<String>,
    pub error: Option<String>,
    /// 1-based line (JSONL, TSV) or task number (Label Studio).
    pub line: usize,
    /// The document (`doc` of veille records and gold JSONL, `data.doc` in Label Studio).
    pub doc: Option<String>,
    /// Scalar fields to slice on (`--by meta.FIELD`): the record's `meta` object over its
    /// other top-level fields (Label Studio: `data`).
    pub fields: Map<String, Value>,
    /// Evidence sentences (`veille classify --evidence`), as (label, sentence).
    pub evidence: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    Unreadable,
    UnknownLabel,
    DuplicateId,
    ErrorRecord,
}

#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub file: String,
    pub line: usize,
    pub kind: IssueKind,
    pub message: String,
}

/// A file read into items (first occurrence of each id) and the issues met on the way.
#[derive(Debug, Clone)]
pub struct LabelledFile {
    pub path: PathBuf,
    pub format: LabelFormat,
    pub items: Vec<Item>,
    pub issues: Vec<Issue>,
}

impl LabelledFile {
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }

    pub fn count(&self, kind: IssueKind) -> usize {
        self.issues.iter().filter(|i| i.kind == kind).count()
    }
}

/// Reads `path` in `format` (`Auto`: detected by content). Fails only when the file can't be
/// read or its format can't be told.
pub fn read_file(path: &Path, format: LabelFormat) -> Result<LabelledFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let content = String::from_utf8_lossy(&bytes);
    let content = content.strip_prefix('\u{feff}').unwrap_or(&content);
    let format = match format {
        LabelFormat::Auto => detect(content).with_context(|| {
            format!(
                "cannot tell the format of {} (use --format-a/--format-b)",
                path.display()
            )
        })?,
        f => f,
    };
    let mut reader = Reader {
        file: path.display().to_string(),
        items: Vec::new(),
        issues: Vec::new(),
        seen: Default::default(),
    };
    match format {
        LabelFormat::Jsonl | LabelFormat::Doccano | LabelFormat::Auto => {
            reader.jsonl(content, format)
        }
        LabelFormat::Tsv => reader.tsv(content),
        LabelFormat::LabelStudio => reader.label_studio(content)?,
    }
    Ok(LabelledFile {
        path: path.to_path_buf(),
        format,
        items: reader.items,
        issues: reader.issues,
    })
}

/// Tells the format from the content: `[` Label Studio, `{` JSONL/doccano, a tab TSV.
pub fn detect(content: &str) -> Option<LabelFormat> {
    let trimmed = content.trim_start();
    if trimmed.starts_with('[') {
        return Some(LabelFormat::LabelStudio);
    }
    let first = content.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with('{') {
        let doccano = serde_json::from_str::<Value>(first)
            .ok()
            .map(|v| v.get("labels").is_none() && v.get("label").is_some())
            .unwrap_or(false);
        return Some(if doccano {
            LabelFormat::Doccano
        } else {
            LabelFormat::Jsonl
        });
    }
    if first.contains('\t') {
        return Some(LabelFormat::Tsv);
    }
    None
}

/// A veille record's `evidence` object as (label, sentence) pairs.
fn record_evidence(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(label, e)| {
            let text = e.get("text").and_then(Value::as_str)?;
            Some((label.clone(), text.to_string()))
        })
        .collect()
}

/// The scalar fields of a record to slice on: top-level ones, then those of its `meta`
/// object (which win), so gold JSONL (`"source": ..` at the top) and veille records
/// (`"meta": {"source": ..}`) slice the same way.
fn slice_fields(v: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = v.as_object() else {
        return out;
    };
    let scalar = |x: &Value| matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_));
    for (k, x) in obj {
        if scalar(x) {
            out.insert(k.clone(), x.clone());
        }
    }
    if let Some(meta) = obj.get("meta").and_then(Value::as_object) {
        for (k, x) in meta {
            if scalar(x) {
                out.insert(k.clone(), x.clone());
            }
        }
    }
    out
}

struct Reader {
    file: String,
    items: Vec<Item>,
    issues: Vec<Issue>,
    seen: std::collections::HashMap<String, usize>,
}

fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_field(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

impl Reader {
    fn issue(&mut self, line: usize, kind: IssueKind, message: String) {
        self.issues.push(Issue {
            file: self.file.clone(),
            line,
            kind,
            message,
        });
    }

    /// Parses label names, reporting unknown ones.
    fn labels<'a>(&mut self, line: usize, names: impl IntoIterator<Item = &'a str>) -> LabelSet {
        let mut set = 0;
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            match name.parse::<Label>() {
                Ok(l) => set |= label_bit(l),
                Err(e) => self.issue(line, IssueKind::UnknownLabel, format!("{e}; ignored")),
            }
        }
        set
    }

    /// A JSON labels value: a list of strings, one string, or null.
    fn json_labels(&mut self, line: usize, v: Option<&Value>) -> Option<LabelSet> {
        match v {
            None | Some(Value::Null) => Some(0),
            Some(Value::String(s)) => Some(self.labels(line, [s.as_str()])),
            Some(Value::Array(a)) => {
                let mut names = Vec::new();
                for x in a {
                    match x {
                        Value::String(s) => names.push(s.as_str()),
                        // doccano span labels: [start, end, "label"]
                        Value::Array(span) => {
                            if let Some(s) = span.last().and_then(Value::as_str) {
                                names.push(s)
                            }
                        }
                        other => self.issue(
                            line,
                            IssueKind::UnknownLabel,
                            format!("label {other} is not a string; ignored"),
                        ),
                    }
                }
                Some(self.labels(line, names))
            }
            Some(other) => {
                self.issue(
                    line,
                    IssueKind::Unreadable,
                    format!("labels must be a list of strings, got {other}; line skipped"),
                );
                None
            }
        }
    }

    fn push(&mut self, item: Item) {
        if let Some(first) = self.seen.get(&item.id) {
            let msg = format!(
                "duplicate id {:?} (first on line {first}); later occurrence ignored",
                item.id
            );
            self.issue(item.line, IssueKind::DuplicateId, msg);
            return;
        }
        self.seen.insert(item.id.clone(), item.line);
        if let Some(e) = &item.error {
            let msg = format!(
                "id {:?} is an error record ({e}); excluded from metrics",
                item.id
            );
            self.issue(item.line, IssueKind::ErrorRecord, msg);
        }
        self.items.push(item);
    }

    fn jsonl(&mut self, content: &str, format: LabelFormat) {
        for (i, raw) in content.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(raw) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    self.issue(
                        line,
                        IssueKind::Unreadable,
                        "not a JSON object; line skipped".into(),
                    );
                    continue;
                }
                Err(e) => {
                    self.issue(
                        line,
                        IssueKind::Unreadable,
                        format!("invalid JSON ({e}); line skipped"),
                    );
                    continue;
                }
            };
            let id = if format == LabelFormat::Doccano {
                id_string(v.get("veille_id")).or_else(|| id_string(v.get("id")))
            } else {
                id_string(v.get("id"))
            };
            let Some(id) = id else {
                self.issue(
                    line,
                    IssueKind::Unreadable,
                    "no \"id\"; line skipped".into(),
                );
                continue;
            };
            let key = if format == LabelFormat::Doccano || v.get("labels").is_none() {
                "label"
            } else {
                "labels"
            };
            let Some(labels) = self.json_labels(line, v.get(key)) else {
                continue;
            };
            let error = match v.get("error") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            let lang = str_field(v.get("lang"));
            let text = str_field(v.get("text"));
            self.push(Item {
                id,
                labels,
                lang,
                text,
                error,
                line,
                doc: str_field(v.get("doc")),
                fields: slice_fields(&v),
                evidence: record_evidence(v.get("evidence")),
            });
        }
    }

    fn tsv(&mut self, content: &str) {
        for (i, raw) in content.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim().is_empty() {
                continue;
            }
            let mut cols = raw.split('\t');
            let id = cols.next().unwrap_or("").trim().to_string();
            let labels = cols.next().unwrap_or("");
            if line == 1 && id.eq_ignore_ascii_case("id") {
                continue; // header
            }
            if id.is_empty() {
                self.issue(line, IssueKind::Unreadable, "empty id; line skipped".into());
                continue;
            }
            let labels = self.labels(
                line,
                labels
                    .split(',')
                    .filter(|s| !s.trim().eq_ignore_ascii_case("none")),
            );
            self.push(Item {
                id,
                labels,
                lang: None,
                text: None,
                error: None,
                line,
                doc: None,
                fields: Map::new(),
                evidence: Vec::new(),
            });
        }
    }

    /// Label Studio export: `[{"id": 7, "data": {"text": .., "id": ..}, "annotations": [{"result":
    /// [{"type": "choices", "value": {"choices": [..]}}]}], "predictions": [..]}]`. The first
    /// annotation that is not cancelled wins; a task without one uses its first prediction.
    fn label_studio(&mut self, content: &str) -> Result<()> {
        let tasks: Vec<Value> = serde_json::from_str(content).with_context(|| {
            format!(
                "{}: not a Label Studio JSON export (an array of tasks)",
                self.file
            )
        })?;
        for (i, task) in tasks.iter().enumerate() {
            let line = i + 1;
            let data = task.get("data");
            let id =
                id_string(data.and_then(|d| d.get("id"))).or_else(|| id_string(task.get("id")));
            let Some(id) = id else {
                self.issue(
                    line,
                    IssueKind::Unreadable,
                    "task without data.id or id; skipped".into(),
                );
                continue;
            };
            let lang = str_field(data.and_then(|d| d.get("lang")));
            let text = str_field(data.and_then(|d| d.get("text")));
            let doc = str_field(data.and_then(|d| d.get("doc")));
            let fields = data.map(slice_fields).unwrap_or_default();
            if let Some(error) = str_field(data.and_then(|d| d.get("error"))) {
                self.push(Item {
                    id,
                    labels: 0,
                    lang,
                    text,
                    error: Some(error),
                    line,
                    doc,
                    fields,
                    evidence: Vec::new(),
                });
                continue;
            }
            let completions = |key: &str| -> Vec<Value> {
                task.get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let annotations: Vec<Value> = completions("annotations")
                .into_iter()
                .filter(|a| {
                    !a.get("was_cancelled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .collect();
            let chosen = annotations
                .first()
                .cloned()
                .or_else(|| completions("predictions").first().cloned());
            let Some(chosen) = chosen else {
                self.issue(
                    line,
                    IssueKind::Unreadable,
                    format!("task {id:?} has no annotation or prediction; skipped"),
                );
                continue;
            };
            let mut names: Vec<String> = Vec::new();
            let mut evidence = Vec::new();
            for r in chosen
                .get("result")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let value = r.get("value");
                if let (Some(label), Some(text)) = (
                    value
                        .and_then(|v| v.get("labels"))
                        .and_then(|l| l.get(0))
                        .and_then(Value::as_str),
                    value.and_then(|v| v.get("text")).and_then(Value::as_str),
                ) {
                    evidence.push((label.to_string(), text.to_string()));
                }
                let choices = value
                    .and_then(|v| v.get("choices"))
                    .and_then(Value::as_array);
                names.extend(
                    choices
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
            let labels = self.labels(line, names.iter().map(String::as_str));
            self.push(Item {
                id,
                labels,
                lang,
                text,
                error: None,
                line,
                doc,
                fields,
                evidence,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("[{\"data\":{}}]"), Some(LabelFormat::LabelStudio));
        assert_eq!(
            detect("\n{\"id\":\"a\",\"labels\":[]}\n"),
            Some(LabelFormat::Jsonl)
        );
        assert_eq!(
            detect("{\"id\":1,\"label\":[]}"),
            Some(LabelFormat::Doccano)
        );
        assert_eq!(detect("a\tespionage,regulation\n"), Some(LabelFormat::Tsv));
        assert_eq!(detect("hello"), None);
    }

    #[test]
    fn reads_jsonl_with_issues() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"labels\":[\"espionage\",\"spying\"]}\nnot json\n{\"id\":\"a\",\"labels\":[]}\n{\"id\":\"b\",\"labels\":[],\"error\":\"boom\"}\n",
        )
        .unwrap();
        let f = read_file(&p, LabelFormat::Auto).unwrap();
        assert_eq!(f.items.len(), 2);
        assert_eq!(f.items[0].labels, label_bit(Label::Espionage));
        assert_eq!(f.count(IssueKind::UnknownLabel), 1);
        assert_eq!(f.count(IssueKind::Unreadable), 1);
        assert_eq!(f.count(IssueKind::DuplicateId), 1);
        assert_eq!(f.count(IssueKind::ErrorRecord), 1);
        assert_eq!(f.issues[1].line, 2);
    }
}
