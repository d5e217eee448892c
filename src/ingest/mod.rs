//! Ingest: files, directories, JSON Lines and stdin become [`Document`]s of [`Input`]
//! paragraphs. Nothing here fails the batch: unreadable files, invalid UTF-8, broken JSON
//! and oversized paragraphs become inputs that carry an error naming the file and line,
//! so that every paragraph still yields exactly one output record.

pub mod paragraphs;

use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

pub use paragraphs::{split_paragraphs, RawParagraph};

/// Default upper bound on a paragraph's length; longer ones become error records
/// (`--max-chars`). 20,000 characters is ~10 pages, far beyond any real paragraph.
pub const DEFAULT_MAX_CHARS: usize = 20_000;

/// One paragraph to classify, or the error that stands in its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub id: String,
    pub doc: String,
    pub para: usize,
    pub text: String,
    pub meta: Option<Value>,
    pub error: Option<String>,
}

impl Input {
    pub fn failed(id: String, doc: String, para: usize, error: String) -> Self {
        Input {
            id,
            doc,
            para,
            text: String::new(),
            meta: None,
            error: Some(error),
        }
    }
}

/// Paragraphs that belong together: language detection uses the whole document as
/// evidence for its short lines (headings, captions).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub name: String,
    pub inputs: Vec<Input>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// `.jsonl`/`.ndjson` by extension, otherwise a text document; stdin: JSON Lines if
    /// the first non-blank byte is `{`.
    Auto,
    /// One JSON object per line with at least `"text"`.
    Jsonl,
    /// A plain-text or Markdown document (paragraphs split on blank lines).
    Text,
    /// One paragraph per line (ids are line numbers); used by `stream --input text`.
    Lines,
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: InputFormat,
    pub max_chars: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: InputFormat::Auto,
            max_chars: DEFAULT_MAX_CHARS,
        }
    }
}

/// Extensions taken from a directory walk; other files there are skipped (and logged).
const DOC_EXTENSIONS: &[&str] = &["txt", "md", "jsonl", "ndjson"];

/// Expands the command-line paths: `-` is stdin, a directory is walked recursively in
/// sorted order. A missing path stays in the list: reading it gives an error document.
pub fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let walker = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .follow_links(true);
            for entry in walker {
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        let ext = e.path().extension().and_then(|x| x.to_str()).unwrap_or("");
                        if DOC_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
                            out.push(e.into_path());
                        } else {
                            tracing::warn!(
                                "skipping {}: not a .txt, .md or .jsonl file",
                                e.path().display()
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        // Keep the unreadable entry: reading it reports the cause.
                        let p = err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| path.clone());
                        out.push(p);
                    }
                }
            }
        } else {
            out.push(path.clone());
        }
    }
    out
}

/// Reads one path (or stdin for `-`) into documents.
pub fn read_path(path: &Path, opts: &IngestOptions) -> Vec<Document> {
    let name = path.display().to_string();
    let bytes = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            let what = if name == "-" {
                "stdin".to_string()
            } else {
                name.clone()
            };
            let error = format!("cannot read {what}: {e}");
            tracing::error!("{error}");
            return vec![Document {
                name: name.clone(),
                inputs: vec![Input::failed(format!("{name}#0"), name, 0, error)],
            }];
        }
    };
    read_bytes(&name, &bytes, opts)
}

/// Parses bytes read from `name` by the format option, the extension or the content.
pub fn read_bytes(name: &str, bytes: &[u8], opts: &IngestOptions) -> Vec<Document> {
    let format = match opts.format {
        InputFormat::Auto => detect_format(name, bytes),
        f => f,
    };
    match format {
        InputFormat::Jsonl => read_jsonl(name, bytes, opts),
        InputFormat::Lines => vec![read_lines(name, bytes, opts)],
        _ => vec![read_text_document(name, bytes, opts)],
    }
}

fn detect_format(name: &str, bytes: &[u8]) -> InputFormat {
    let lower = name.to_ascii_lowercase();
    let jsonl_name = lower.ends_with(".jsonl") || lower.ends_with(".ndjson");
    let jsonl_stdin = name == "-" && bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if jsonl_name || jsonl_stdin {
        InputFormat::Jsonl
    } else {
        InputFormat::Text
    }
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}

/// Splits on `\n`, keeping line numbers (1-based) and stripping a trailing `\r`.
fn byte_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    trimmed
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(move |_| !bytes.is_empty())
}

fn utf8_error(name: &str, line: usize, e: std::str::Utf8Error) -> String {
    format!(
        "invalid UTF-8 in {name} at line {line}, byte {} of the line",
        e.valid_up_to() + 1
    )
}

fn check_length(text: &str, max_chars: usize, name: &str, line: usize) -> Option<String> {
    let n = text.chars().count();
    (n > max_chars).then(|| {
        format!("paragraph too long in {name} at line {line}: {n} characters (limit {max_chars}, see --max-chars)")
    })
}

/// A `.txt`/`.md` document: paragraphs on blank lines. A paragraph that touches an
/// invalid UTF-8 line becomes an error record; the others are kept.
pub fn read_text_document(name: &str, bytes: &[u8], opts: &IngestOptions) -> Document {
    let mut doc = Document {
        name: name.to_string(),
        inputs: Vec::new(),
    };
    if looks_binary(bytes) {
        let error = format!("{name} looks like a binary file (NUL bytes), not a text document");
        tracing::error!("{error}");
        doc.inputs.push(Input::failed(
            format!("{name}#0"),
            name.to_string(),
            0,
            error,
        ));
        return doc;
    }
    // Invalid lines are replaced by a marker line (kept non-blank so the paragraph
    // structure holds) and remembered, to turn their paragraphs into errors.
    let mut bad_lines = Vec::new();
    let lines: Vec<String> = byte_lines(bytes)
        .map(|(no, l)| match std::str::from_utf8(l) {
            Ok(s) => s.to_string(),
            Err(e) => {
                bad_lines.push((no, utf8_error(name, no, e)));
                String::from_utf8_lossy(l).into_owned()
            }
        })
        .collect();
    let paragraphs = split_paragraphs(&lines);
    if paragraphs.is_empty() {
        let error = format!("{name} is empty: no paragraphs");
        tracing::warn!("{error}");
        doc.inputs.push(Input::failed(
            format!("{name}#0"),
            name.to_string(),
            0,
            error,
        ));
        return doc;
    }
    let n_lines: Vec<usize> = paragraphs.iter().map(|p| p.line).collect();
    for (i, p) in paragraphs.into_iter().enumerate() {
        let para = i + 1;
        let end_line = n_lines.get(i + 1).copied().unwrap_or(usize::MAX);
        let bad = bad_lines
            .iter()
            .find(|(no, _)| *no >= p.line && *no < end_line);
        let error = bad
            .map(|(_, e)| e.clone())
            .or_else(|| check_length(&p.text, opts.max_chars, name, p.line));
        let mut text = p.text;
        if error.is_some() {
            text = truncate_chars(&text, 200);
        }
        doc.inputs.push(Input {
            id: format!("{name}#{para}"),
            doc: name.to_string(),
            para,
            text,
            meta: None,
            error,
        });
    }
    doc
}

fn truncate_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One paragraph per line (stream `--input text`); empty lines are error records.
pub fn read_lines(name: &str, bytes: &[u8], opts: &IngestOptions) -> Document {
    let inputs = byte_lines(bytes)
        .map(|(no, l)| parse_text_line(name, no, l, opts))
        .collect();
    Document {
        name: name.to_string(),
        inputs,
    }
}

/// Parses one line of plain text into an input with id `<name>#<line>`.
pub fn parse_text_line(name: &str, line_no: usize, bytes: &[u8], opts: &IngestOptions) -> Input {
    let id = format!("{name}#{line_no}");
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.trim(),
        Err(e) => {
            return Input::failed(id, name.to_string(), line_no, utf8_error(name, line_no, e))
        }
    };
    let error = if text.is_empty() {
        Some(format!("empty text in {name} at line {line_no}"))
    } else {
        check_length(text, opts.max_chars, name, line_no)
    };
    Input {
        id,
        doc: name.to_string(),
        para: line_no,
        text: if error.is_some() {
            truncate_chars(text, 200)
        } else {
            text.to_string()
        },
        meta: None,
        error,
    }
}

/// JSON Lines: each record becomes its own document unless records share a `"doc"`
/// field, in which case consecutive records with the same `doc` form one document.
pub fn read_jsonl(name: &str, bytes: &[u8], opts: &IngestOptions) -> Vec<Document> {
    let mut docs: Vec<Document> = Vec::new();
    for (no, line) in byte_lines(bytes) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines between records are not records
        }
        let input = parse_jsonl_line(name, no, line, opts);
        match docs.last_mut() {
            Some(d) if d.name == input.doc && d.name != name => d.inputs.push(input),
            _ => docs.push(Document {
                name: input.doc.clone(),
                inputs: vec![input],
            }),
        }
    }
    if docs.is_empty() {
        let error = format!("{name} is empty: no records");
        tracing::warn!("{error}");
        docs.push(Document {
            name: name.to_string(),
            inputs: vec![Input::failed(
                format!("{name}#0"),
                name.to_string(),
                0,
                error,
            )],
        });
    }
    docs
}

/// Parses one JSON Lines record. `id` is kept (or `<name>#<line>`), `doc` groups records,
/// `text` is required, every other field is carried through under `meta`.
pub fn parse_jsonl_line(name: &str, line_no: usize, bytes: &[u8], opts: &IngestOptions) -> Input {
    let fallback_id = format!("{name}#{line_no}");
    let fail = |id: String, e: String| Input::failed(id, name.to_string(), line_no, e);
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => return fail(fallback_id, utf8_error(name, line_no, e)),
    };
    let mut obj: Map<String, Value> = match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return fail(
                fallback_id,
                format!("{name} line {line_no}: expected a JSON object"),
            )
        }
        Err(e) => {
            return fail(
                fallback_id,
                format!("invalid JSON in {name} at line {line_no}: {e}"),
            )
        }
    };
    let id = match obj.remove("id") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => fallback_id,
    };
    let doc = match obj.remove("doc") {
        Some(Value::String(s)) => s,
        _ => name.to_string(),
    };
    let text = match obj.remove("text") {
        Some(Value::String(t)) => t,
        Some(_) => {
            return fail(
                id,
                format!("{name} line {line_no}: \"text\" is not a string"),
            )
        }
        None => return fail(id, format!("{name} line {line_no}: no \"text\" field")),
    };
    let trimmed = text.trim();
    let error = if trimmed.is_empty() {
        Some(format!("empty text in {name} at line {line_no}"))
    } else {
        check_length(trimmed, opts.max_chars, name, line_no)
    };
    Input {
        id,
        doc,
        para: line_no,
        text: if error.is_some() {
            truncate_chars(trimmed, 200)
        } else {
            trimmed.to_string()
        },
        meta: (!obj.is_empty()).then_some(Value::Object(obj)),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> IngestOptions {
        IngestOptions::default()
    }

    #[test]
    fn jsonl_keeps_id_and_meta_and_reports_bad_lines() {
        let data = b"{\"id\":\"a\",\"text\":\"Hello there.\",\"src\":\"x\"}\n{broken\n\n{\"id\":7,\"text\":\"  \"}\n{\"text\":\"no id\"}\n";
        let docs = read_jsonl("f.jsonl", data, &opts());
        let inputs: Vec<&Input> = docs.iter().flat_map(|d| &d.inputs).collect();
        assert_eq!(inputs.len(), 4);
        assert_eq!(inputs[0].id, "a");
        assert_eq!(inputs[0].meta, Some(serde_json::json!({"src": "x"})));
        assert!(inputs[0].error.is_none());
        assert_eq!(inputs[1].id, "f.jsonl#2");
        assert!(inputs[1]
            .error
            .as_ref()
            .unwrap()
            .contains("invalid JSON in f.jsonl at line 2"));
        assert_eq!(inputs[2].id, "7");
        assert!(inputs[2].error.as_ref().unwrap().contains("empty text"));
        assert_eq!(inputs[3].id, "f.jsonl#5");
    }

    #[test]
    fn jsonl_groups_records_sharing_doc() {
        let data = b"{\"doc\":\"d1\",\"text\":\"a\"}\n{\"doc\":\"d1\",\"text\":\"b\"}\n{\"doc\":\"d2\",\"text\":\"c\"}\n";
        let docs = read_jsonl("f.jsonl", data, &opts());
        assert_eq!(
            docs.iter().map(|d| d.inputs.len()).collect::<Vec<_>>(),
            vec![2, 1]
        );
    }

    #[test]
    fn invalid_utf8_fails_only_its_paragraph() {
        let mut data =
            b"Good paragraph.\n\nBad \xff\xfe bytes here.\n\nAnother good one.\n".to_vec();
        data.extend_from_slice(b"\n");
        let doc = read_text_document("t.txt", &data, &opts());
        assert_eq!(doc.inputs.len(), 3);
        assert!(doc.inputs[0].error.is_none());
        let e = doc.inputs[1].error.as_ref().unwrap();
        assert!(e.contains("invalid UTF-8 in t.txt at line 3"), "{e}");
        assert!(doc.inputs[2].error.is_none());
    }

    #[test]
    fn empty_binary_and_huge_inputs_are_errors() {
        let empty = read_text_document("e.txt", b"", &opts());
        assert!(empty.inputs[0].error.as_ref().unwrap().contains("empty"));
        let bin = read_text_document("b.txt", b"\x00\x01\x02", &opts());
        assert!(bin.inputs[0].error.as_ref().unwrap().contains("binary"));
        let huge = "word ".repeat(300_000);
        let doc = read_text_document("h.txt", huge.as_bytes(), &opts());
        let e = doc.inputs[0].error.as_ref().unwrap();
        assert!(e.contains("too long") && e.contains("h.txt"), "{e}");
        assert!(doc.inputs[0].text.chars().count() <= 201);
    }

    #[test]
    fn stdin_format_is_detected_from_content() {
        assert_eq!(
            detect_format("-", b"  {\"text\":\"x\"}"),
            InputFormat::Jsonl
        );
        assert_eq!(detect_format("-", b"Plain text"), InputFormat::Text);
        assert_eq!(detect_format("a.JSONL", b"x"), InputFormat::Jsonl);
    }

    #[test]
    fn lines_format_numbers_lines() {
        let doc = read_lines("-", b"one\n\nthree\n", &opts());
        assert_eq!(doc.inputs.len(), 3);
        assert_eq!(doc.inputs[2].id, "-#3");
        assert!(doc.inputs[1].error.is_some());
    }
}
