//! `veille compare` end to end: the real binary on the fixtures of tests/data/compare/.
//!
//! The numbers are checked against tests/data/compare/expected.json, written by
//! scripts/compare_expectations.py with scikit-learn, statsmodels, NLTK and `krippendorff`
//! (to 1e-9; no Python needed here). The HTML report is rendered with headless Chromium
//! (Debian package `chromium`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compare")
        .join(name)
}

fn veille(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veille"))
        .args(args)
        .output()
        .expect("run veille")
}

fn compare(files: &[&str], extra: &[&str]) -> Output {
    let paths: Vec<String> = files
        .iter()
        .map(|f| data(f).display().to_string())
        .collect();
    let mut args: Vec<&str> = vec!["compare"];
    args.extend(paths.iter().map(String::as_str));
    args.extend(extra);
    veille(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn json(files: &[&str]) -> Value {
    let o = compare(files, &["--format", "json"]);
    ok(&o);
    serde_json::from_slice(&o.stdout).expect("valid JSON report")
}

/// Every key of `expected` must be in `actual` with the same value (numbers to 1e-9).
fn check(path: &str, expected: &Value, actual: &Value, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    Some(av) => check(&format!("{path}.{k}"), v, av, errors),
                    None => errors.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errors.push(format!("{path}: {} items, expected {}", a.len(), e.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                check(&format!("{path}[{i}]"), ev, av, errors);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            if (e - a).abs() > 1e-9 {
                errors.push(format!(
                    "{path}: {a}, expected {e} (diff {:e})",
                    (e - a).abs()
                ));
            }
        }
        (e, a) if e == a => {}
        (e, a) => errors.push(format!("{path}: {a}, expected {e}")),
    }
}

#[test]
fn numbers_agree_with_sklearn_statsmodels_nltk_krippendorff() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(data("expected.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_object().unwrap();
    assert!(cases.len() >= 6, "at least 6 fixture pairs");
    let mut errors = Vec::new();
    for (name, case) in cases {
        let files: Vec<&str> = case["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let actual = json(&files);
        check(name, &case["expected"], &actual, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn json_has_the_documented_top_level_keys() {
    let r = json(&["basic_gold.jsonl", "basic_pred.jsonl"]);
    for key in [
        "micro_f1",
        "macro_f1",
        "n_joined",
        "only_in",
        "per_label",
        "exact_match",
        "hamming_loss",
        "krippendorff_alpha_masi",
        "per_lang",
        "pairs",
        "disagreements",
        "issues",
    ] {
        assert!(r.get(key).is_some(), "no {key}");
    }
    for label in [
        "espionage",
        "influence-operation",
        "corporate-denial",
        "regulation",
    ] {
        for m in [
            "precision",
            "recall",
            "f1",
            "support",
            "cohen_kappa",
            "krippendorff_alpha",
        ] {
            assert!(
                r["per_label"][label].get(m).is_some(),
                "no per_label.{label}.{m}"
            );
        }
    }
    assert!(r["only_in"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("basic_gold.jsonl"));
    assert_eq!(
        r["only_in"][1]["ids"],
        serde_json::json!(["sv-only-pred-1"])
    );
    assert!(
        r.get("fleiss_kappa").is_none(),
        "Fleiss' kappa only with 3+ files"
    );
    // Disagreements: most differing labels first, each with the labels of both sides.
    let d = r["disagreements"].as_array().unwrap();
    assert!(!d.is_empty());
    let dist: Vec<u64> = d.iter().map(|x| x["distance"].as_u64().unwrap()).collect();
    assert!(dist.windows(2).all(|w| w[0] >= w[1]), "{dist:?}");
    assert_eq!(d[0]["labels"].as_array().unwrap().len(), 2);
    assert!(d[0]["text"].as_str().is_some());
}

#[test]
fn file_problems_are_reported_with_file_and_line_and_not_fatal() {
    let o = compare(&["basic_gold.jsonl", "basic_pred.jsonl"], &[]);
    ok(&o);
    let err = stderr(&o);
    // The broken JSON line is line 11 of the gold, the non-object line 22 of the prediction (after a blank first line).
    assert!(err.contains("basic_gold.jsonl:11: invalid JSON"), "{err}");
    assert!(
        err.contains("basic_pred.jsonl:22: not a JSON object"),
        "{err}"
    );
    assert!(
        err.contains("basic_gold.jsonl:4: unknown label \"spying\""),
        "{err}"
    );
    assert!(err.contains("duplicate id \"fr-d000-p06\""), "{err}");
    assert!(err.contains("is an error record"), "{err}");
    assert!(err.contains("ids only in"), "{err}");
    let r = json(&["basic_gold.jsonl", "basic_pred.jsonl"]);
    let files = r["files"].as_array().unwrap();
    assert_eq!(files[0]["unknown_labels"], 1);
    assert_eq!(files[0]["duplicate_ids"], 1);
    assert_eq!(files[0]["unreadable"], 1);
    assert_eq!(files[1]["unreadable"], 1);
    assert_eq!(files[1]["error_records"], 1);
    assert_eq!(r["n_excluded_errors"], 1);
    assert_eq!(r["only_in"][0]["count"], 2);
    // -q keeps stderr quiet.
    let q = compare(&["basic_gold.jsonl", "basic_pred.jsonl"], &["-q"]);
    ok(&q);
    assert!(stderr(&q).is_empty(), "{}", stderr(&q));
}

#[test]
fn table_is_the_default_and_markdown_csv_work() {
    let o = compare(&["basic_gold.jsonl", "basic_pred.jsonl"], &["-q"]);
    ok(&o);
    let t = stdout(&o);
    for s in [
        "espionage",
        "influence-operation",
        "micro",
        "macro",
        "exact match",
        "hamming loss",
        "disagreements",
        "lang",
    ] {
        assert!(t.contains(s), "table lacks {s}:\n{t}");
    }
    let md = stdout(&compare(
        &["basic_gold.jsonl", "basic_pred.jsonl"],
        &["-q", "--format", "markdown"],
    ));
    assert!(md.contains("| label | precision |"), "{md}");
    assert!(md.contains("|---|---:|"), "{md}");
    let csv = stdout(&compare(
        &["basic_gold.jsonl", "basic_pred.jsonl"],
        &["-q", "--format", "csv"],
    ));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("file_a,file_b,scope,key,metric,value"));
    let micro = json(&["basic_gold.jsonl", "basic_pred.jsonl"])["micro_f1"]
        .as_f64()
        .unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains(",overall,,micro_f1,"))
        .expect("micro_f1 row");
    let v: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
    assert!((v - micro).abs() < 1e-12);
    assert!(csv.lines().all(|l| l.split(',').count() >= 6));
}

#[test]
fn three_files_give_pairs_fleiss_and_overall_alpha() {
    let r = json(&["three_a.jsonl", "three_b.jsonl", "three_c.jsonl"]);
    assert_eq!(r["pairs"].as_array().unwrap().len(), 2);
    assert!(r["fleiss_kappa"]["espionage"].as_f64().is_some());
    let o = compare(
        &["three_a.jsonl", "three_b.jsonl", "three_c.jsonl"],
        &["-q"],
    );
    ok(&o);
    let t = stdout(&o);
    assert!(t.contains("C vs A") && t.contains("fleiss-kappa"), "{t}");
}

#[test]
fn undefined_statistics_are_null_not_nan() {
    let r = json(&["empty_a.jsonl", "empty_b.jsonl"]);
    assert_eq!(r["per_label"]["espionage"]["cohen_kappa"], Value::Null);
    assert_eq!(
        r["per_label"]["espionage"]["krippendorff_alpha"],
        Value::Null
    );
    assert_eq!(r["exact_match"], 1.0);
    let t = stdout(&compare(&["empty_a.jsonl", "empty_b.jsonl"], &[]));
    assert!(t.contains("n/a"), "{t}");
}

#[test]
fn usage_errors_exit_2() {
    let o = compare(&["basic_gold.jsonl", "no-such-file.jsonl"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-file.jsonl"), "{}", stderr(&o));
    let o = compare(&["basic_gold.jsonl", "three_a.jsonl"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no id is common"), "{}", stderr(&o));
    let o = compare(&["basic_gold.jsonl"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn format_flags_override_detection_and_labels_filter() {
    let dir = tempfile::tempdir().unwrap();
    // A TSV whose first line has no tab (an id without labels) cannot be detected;
    // --format-b says what it is.
    let tsv = dir.path().join("pred.txt");
    let text = std::fs::read_to_string(data("perfect_pred.tsv"))
        .unwrap()
        .replace("\tnone", "");
    let mut lines: Vec<&str> = text.lines().skip(1).collect();
    lines.sort_by_key(|l| l.contains('\t'));
    assert!(!lines[0].contains('\t'));
    std::fs::write(&tsv, lines.join("\n") + "\n").unwrap();
    let gold = data("perfect_gold.jsonl");
    let o = veille(&[
        "compare",
        gold.to_str().unwrap(),
        tsv.to_str().unwrap(),
        "--format-b",
        "tsv",
        "--format",
        "json",
    ]);
    ok(&o);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["micro_f1"], 1.0);
    assert_eq!(r["n_joined"], 20);

    let r: Value = serde_json::from_slice(
        &compare(
            &["large_gold.jsonl", "large_pred.jsonl"],
            &[
                "--format",
                "json",
                "--label",
                "espionage",
                "--label",
                "regulation",
            ],
        )
        .stdout,
    )
    .unwrap();
    let labels: Vec<&String> = r["per_label"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["espionage", "regulation"]);
    let f1 = |l: &str| r["per_label"][l]["f1"].as_f64().unwrap();
    assert!(
        (r["macro_f1"].as_f64().unwrap() - (f1("espionage") + f1("regulation")) / 2.0).abs()
            < 1e-12
    );
}

#[test]
fn output_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/report.json");
    let o = compare(
        &["large_gold.jsonl", "large_pred.jsonl"],
        &["--format", "json", "-o", out.to_str().unwrap()],
    );
    ok(&o);
    assert!(o.stdout.is_empty());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["n_joined"], 300);
}

/// Records as veille writes them, through each sink, read back by `compare`.
#[test]
fn label_studio_and_doccano_sinks_round_trip_through_compare() {
    use veille::record::Record;
    use veille::sinks::{open_sink, OutputFormat};
    let records: Vec<Record> = (0..12)
        .map(|i| {
            let labels: Vec<&str> = ["espionage", "influence-operation", "corporate-denial", "regulation"]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| (i >> k) & 1 == 1)
                .map(|(_, l)| l)
                .collect();
            let scores: serde_json::Map<String, Value> = ["espionage", "influence-operation", "corporate-denial", "regulation"]
                .iter()
                .enumerate()
                .map(|(k, l)| (l.to_string(), serde_json::json!(if (i >> k) & 1 == 1 { 0.9 } else { 0.2 })))
                .collect();
            serde_json::from_value(serde_json::json!({
                "id": format!("doc{}-p{:02}", i / 4, i), "doc": format!("doc{}", i / 4), "para": i,
                "text": format!("paragraph {i}"), "lang": (["en", "sv", "fr"][i % 3]), "lang_confidence": 0.99,
                "labels": labels, "scores": scores, "strategy": "embed", "model": "test-model",
                "error": if i == 11 { Value::from("too long") } else { Value::Null },
            }))
            .expect("a record")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let write = |format: OutputFormat, name: &str| -> PathBuf {
        let path = dir.path().join(name);
        let mut sink = open_sink(format, Box::new(std::fs::File::create(&path).unwrap()));
        for r in &records {
            sink.write(r).unwrap();
        }
        sink.finish().unwrap();
        path
    };
    let jsonl = write(OutputFormat::Jsonl, "out.jsonl");
    let ls = write(OutputFormat::LabelStudio, "out.json");
    let dc = write(OutputFormat::Doccano, "out.doccano.jsonl");

    // Label Studio: the task array with predictions carrying model version and scores.
    let tasks: Value = serde_json::from_str(&std::fs::read_to_string(&ls).unwrap()).unwrap();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 12);
    let t = &tasks[3]; // espionage + influence-operation
    assert_eq!(t["data"]["text"], "paragraph 3");
    let p = &t["predictions"][0];
    assert_eq!(p["model_version"], "test-model (embed)");
    assert!(p["score"].as_f64().unwrap() > 0.5);
    let r = &p["result"][0];
    assert_eq!(r["type"], "choices");
    assert_eq!(r["from_name"], "label");
    assert_eq!(r["to_name"], "text");
    assert_eq!(
        r["value"]["choices"],
        serde_json::json!(["espionage", "influence-operation"])
    );
    assert!((r["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(tasks[11]["data"]["error"], "too long");
    // doccano: text + label list.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&dc)
            .unwrap()
            .lines()
            .nth(5)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["text"], "paragraph 5");
    assert_eq!(
        first["label"],
        serde_json::json!(["espionage", "corporate-denial"])
    );

    for other in [&ls, &dc] {
        let o = veille(&[
            "compare",
            jsonl.to_str().unwrap(),
            other.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ]);
        ok(&o);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["n_joined"], 11, "{}", other.display());
        assert_eq!(r["n_excluded_errors"], 1);
        assert_eq!(r["exact_match"], 1.0);
        assert_eq!(r["micro_f1"], 1.0);
        assert_eq!(r["krippendorff_alpha_masi"], 1.0);
    }
}

// ------------------------------------------------------------------------------------------
// HTML, rendered by headless Chromium

const CHROMIUM_PACKAGE: &str = "chromium";

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("VEILLE_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "headless Chromium not found at /usr/bin/chromium: install the Debian package `{CHROMIUM_PACKAGE}` \
         (apt-get install -y {CHROMIUM_PACKAGE}) or set VEILLE_CHROMIUM"
    );
}

/// Decodes an 8-bit RGB/RGBA PNG into (width, height, pixels as RGB triples).
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut pos, mut w, mut h, mut ctype, mut idat) = (8, 0usize, 0usize, 0u8, Vec::new());
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let body = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!(body[8], 8, "8-bit PNG expected");
                ctype = body[9];
                assert_eq!(body[12], 0, "interlaced PNG not handled");
            }
            b"IDAT" => idat.extend_from_slice(body),
            _ => {}
        }
        pos += 12 + len;
    }
    let bpp = match ctype {
        2 => 3,
        6 => 4,
        c => panic!("PNG colour type {c} not handled"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * bpp;
    assert_eq!(raw.len(), h * (stride + 1), "PNG data size");
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        let filter = raw[y * (stride + 1)];
        let mut line = raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)].to_vec();
        for i in 0..stride {
            let a = if i >= bpp { line[i - bpp] as i32 } else { 0 };
            let b = prev[i] as i32;
            let c = if i >= bpp { prev[i - bpp] as i32 } else { 0 };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            line[i] = (line[i] as i32 + add) as u8;
        }
        for x in 0..w {
            pixels.push([line[x * bpp], line[x * bpp + 1], line[x * bpp + 2]]);
        }
        prev = line;
    }
    (w, h, pixels)
}

#[test]
fn html_report_is_self_contained_and_renders_in_headless_chromium() {
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let o = compare(
        &["basic_gold.jsonl", "basic_pred.jsonl"],
        &["-q", "--format", "html", "-o", html.to_str().unwrap()],
    );
    ok(&o);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg"), "inline SVG charts");
    for (needle, what) in [
        ("http://", "http URL"),
        ("https://", "https URL"),
        ("<script src", "external script"),
        ("<link", "external stylesheet"),
    ] {
        let offending: Vec<&str> = page.lines().filter(|l| l.contains(needle)).collect();
        assert!(
            offending.is_empty(),
            "{what} in a self-contained page: {offending:?}"
        );
    }
    for s in [
        "espionage",
        "regulation",
        "micro",
        "Confusion",
        "Agreement",
        "Disagreements",
    ] {
        assert!(page.contains(s), "page lacks {s}");
    }

    let png = dir.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (Debian package `{CHROMIUM_PACKAGE}`): {e}",
                chromium.display()
            )
        });
    assert!(
        png.exists(),
        "chromium wrote no screenshot (exit {:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(keep) = std::env::var_os("VEILLE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    let bytes = std::fs::read(&png).unwrap();
    let (w, h, pixels) = decode_png(&bytes);
    assert_eq!((w, h), (1200, 1600), "screenshot size");
    let background = pixels[w * 5 + 5];
    let differing = pixels.iter().filter(|p| **p != background).count();
    let share = differing as f64 / pixels.len() as f64;
    assert!(
        share > 0.02,
        "screenshot is almost blank ({:.2}% not background)",
        share * 100.0
    );
    let mut colours: Vec<[u8; 3]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 20,
        "only {} colours: no charts drawn?",
        colours.len()
    );
    // Chart colours must be there: some clearly saturated pixels (bars, heat-map cells).
    let saturated = pixels
        .iter()
        .filter(|p| {
            let (mx, mn) = (
                *p.iter().max().unwrap() as i32,
                *p.iter().min().unwrap() as i32,
            );
            mx - mn > 80
        })
        .count();
    assert!(
        saturated > 2000,
        "only {saturated} saturated pixels: no charts drawn?"
    );
}
