//! `veille classify --evidence` end to end: the real binary and the real models on the sample
//! corpus. Each carried label gets the sentence of its paragraph that the same encoder and
//! heads score highest, checked by classifying every sentence on its own through the binary;
//! offsets are code points into `text`; labels and scores do not change; Label Studio output
//! carries the evidence as highlighted spans and the input's `meta` fields in its task data.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const SAMPLE: &str = "corpora/sample";

fn classify(args: &[&str], stdin: Option<&str>) -> Vec<u8> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("classify")
        // f32: its vectors do not depend on which texts share a batch, so a sentence scores
        // the same alone and among others (int8's per-call activation scales shift it a
        // little; tests/int8.rs holds int8 to f32 instead).
        .args(["--precision", "f32"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run veille");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn records(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

fn code_points(s: &str, start: usize, end: usize) -> String {
    s.chars().skip(start).take(end - start).collect()
}

#[test]
fn evidence_is_the_best_scoring_sentence_of_each_carried_label() {
    let plain = records(&classify(&[SAMPLE], None));
    let with = records(&classify(&[SAMPLE, "--evidence"], None));
    assert_eq!(plain.len(), with.len());
    let mut multi = 0;
    let mut checked = 0;
    let mut labelled = 0;
    for (p, r) in plain.iter().zip(&with) {
        assert!(p.get("evidence").is_none(), "no evidence without the flag");
        assert_eq!(p["id"], r["id"]);
        assert_eq!(p["labels"], r["labels"], "evidence must not change labels");
        assert_eq!(p["scores"], r["scores"]);
        let labels: Vec<&str> = r["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        if !r["error"].is_null() || labels.is_empty() {
            assert!(r.get("evidence").is_none(), "{r}");
            continue;
        }
        labelled += 1;
        let text = r["text"].as_str().unwrap();
        let ev = r["evidence"]
            .as_object()
            .expect("evidence for a labelled record");
        let keys: Vec<&str> = ev.keys().map(String::as_str).collect();
        assert_eq!(
            keys, labels,
            "one evidence per carried label, taxonomy order"
        );
        for e in ev.values() {
            let (start, end) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert!(start < end && end <= text.chars().count(), "{e}");
            assert_eq!(code_points(text, start, end), e["text"].as_str().unwrap());
            let score = e["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&score));
        }
        // Every sentence classified on its own: the evidence is the best one per label.
        let sentences = veille::evidence::sentences(text);
        if sentences.len() == 1 {
            for (label, e) in ev {
                assert_eq!(e["score"], r["scores"][label], "a one-sentence paragraph");
            }
            continue;
        }
        multi += 1;
        let lines: String = sentences
            .iter()
            .map(|s| {
                serde_json::json!({"id": format!("s{}", s.chars.0), "doc": "one", "text": s.text(text)})
                    .to_string()
                    + "\n"
            })
            .collect();
        let alone = records(&classify(&["--input", "jsonl", "-"], Some(&lines)));
        assert_eq!(alone.len(), sentences.len());
        // A very short sentence on its own may be an error record (language unsure); the
        // others are compared.
        let scored: Vec<&Value> = alone.iter().filter(|a| a["error"].is_null()).collect();
        for (label, e) in ev {
            let best = scored
                .iter()
                .map(|a| a["scores"][label].as_f64().unwrap())
                .fold(f64::MIN, f64::max);
            let score = e["score"].as_f64().unwrap();
            assert!(
                score >= best - 1e-3,
                "{label}: {score} < best {best} in {text}"
            );
            if let Some(own) = scored.iter().find(|a| a["text"] == e["text"]) {
                let own = own["scores"][label].as_f64().unwrap();
                // Batched and single passes differ only by padding noise.
                assert!((own - score).abs() < 1e-3, "{label}: {own} vs {score}");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "evidence scores re-checked sentence by sentence ({checked})"
    );
    assert!(
        labelled >= 8,
        "the sample has labelled paragraphs ({labelled})"
    );
    assert!(
        multi >= 3,
        "and several have more than one sentence ({multi})"
    );
}

#[test]
fn label_studio_tasks_carry_evidence_spans_meta_and_language_confidence() {
    let out = classify(
        &[
            "corpora/sample/feed.jsonl",
            "corpora/sample/sv-hamnen.txt",
            "--evidence",
            "--format",
            "label-studio",
        ],
        None,
    );
    let tasks: Value = serde_json::from_slice(&out).expect("a JSON task array");
    let tasks = tasks.as_array().unwrap();
    let mut spans = 0;
    for t in tasks {
        let data = &t["data"];
        assert!(data["lang_confidence"].as_f64().is_some(), "{t}");
        if data["id"].as_str().unwrap().starts_with("feed-") {
            assert_eq!(
                data["source"], "wire",
                "meta fields become data fields: {t}"
            );
        }
        let text = data["text"].as_str().unwrap();
        for r in t["predictions"][0]["result"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if r["type"] == "labels" {
                spans += 1;
                assert_eq!(r["from_name"], "evidence");
                assert_eq!(r["to_name"], "text");
                let v = &r["value"];
                let (s, e) = (
                    v["start"].as_u64().unwrap() as usize,
                    v["end"].as_u64().unwrap() as usize,
                );
                assert_eq!(code_points(text, s, e), v["text"].as_str().unwrap());
                let label = v["labels"][0].as_str().unwrap();
                let choices = &t["predictions"][0]["result"][0]["value"]["choices"];
                assert!(
                    choices.as_array().unwrap().iter().any(|c| c == label),
                    "a span for a chosen label: {t}"
                );
            }
        }
    }
    assert!(spans >= 4, "{spans} evidence spans");
}
