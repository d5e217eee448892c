//! Test corpora for the scale tests: paragraphs of the labelled corpus under fresh ids,
//! as many as asked (cycling through the corpus), written as JSON Lines.

use std::path::Path;

/// Paragraphs longer than this are left out: the tests run the real model on a shared
/// machine, and short paragraphs keep them quick without changing what they check.
pub const MAX_TEST_CHARS: usize = 160;

/// Paragraph texts (with their `doc`) of `corpora/labelled`, in file order, up to
/// [`MAX_TEST_CHARS`] characters.
pub fn labelled_paragraphs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/labelled");
    let mut out = Vec::new();
    for lang in ["en", "fr", "sv"] {
        let text = std::fs::read_to_string(root.join(format!("{lang}.jsonl"))).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["text"].as_str().unwrap().chars().count() > MAX_TEST_CHARS {
                continue;
            }
            out.push((
                v["doc"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// `n` records `{"id": "<prefix>-<i>", "text", ["doc"]}`. With `docs`, in corpus order
/// and each article's paragraphs sharing a `doc` (one document); without, shuffled, each
/// record its own document.
pub fn write_corpus(path: &Path, n: usize, prefix: &str, docs: bool) -> Vec<String> {
    let paras = labelled_paragraphs();
    let mut ids = Vec::with_capacity(n);
    let mut out = String::new();
    for i in 0..n {
        let round = i / paras.len();
        // In corpus order articles stay whole; otherwise a fixed shuffle mixes languages.
        let at = if docs { i } else { i * 7919 };
        let (doc, text) = &paras[at % paras.len()];
        let id = format!("{prefix}-{i:06}");
        let mut rec = serde_json::json!({ "id": id, "text": text });
        if docs {
            rec["doc"] = serde_json::json!(format!("{doc}-r{round}"));
        }
        out.push_str(&rec.to_string());
        out.push('\n');
        ids.push(id);
    }
    std::fs::write(path, out).unwrap();
    ids
}
