//! `veille compare --significance` and `--by` end to end: the real binary on the fixtures of
//! tests/data/compare/sig_*.jsonl, against tests/data/compare/significance.json (written by
//! scripts/compare_expectations.py with scipy, statsmodels and scikit-learn; no Python here).
//!
//! Differences, McNemar p-values and per-slice figures must agree to 1e-9. Bootstrap
//! intervals and randomization p-values come from two different random generators (ours and
//! numpy's), each with 10,000 resamples, so they agree only within Monte-Carlo error: an
//! interval end within a quarter of the bootstrap standard deviation (about five standard
//! errors of a 2.5% quantile estimated from 10,000 draws, for two independent estimates), a
//! p-value within five standard errors of the difference of two estimates plus 2/10,000.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compare")
        .join(name)
}

fn compare(files: &[&str], extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
    cmd.arg("compare");
    for f in files {
        cmd.arg(data(f));
    }
    cmd.args(extra).output().expect("run veille")
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("significance.json")).unwrap()).unwrap()
}

fn files_of(case: &Value) -> Vec<String> {
    case["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

fn report(files: &[String], extra: &[&str]) -> Value {
    let f: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut args = vec!["--format", "json", "-q"];
    args.extend(extra);
    serde_json::from_str(&ok(&compare(&f, &args))).expect("JSON report")
}

fn file_name(v: &Value) -> String {
    Path::new(v.as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Checks every comparison of `actual` against scipy/statsmodels' `expected` rows.
fn check_significance(expected: &Value, actual: &Value) -> Vec<String> {
    let rows = expected["significance"].as_array().unwrap();
    let got = actual["significance"]
        .as_array()
        .expect("significance array");
    let mut errors = Vec::new();
    if rows.len() != got.len() {
        errors.push(format!(
            "{} comparisons, expected {}",
            got.len(),
            rows.len()
        ));
    }
    let resamples = expected["resamples"].as_f64().unwrap();
    for (e, a) in rows.iter().zip(got) {
        let what = format!(
            "{} -> {} {}",
            e["system_a"].as_str().unwrap(),
            e["system_b"].as_str().unwrap(),
            e["metric"].as_str().unwrap()
        );
        if file_name(&a["system_a"]) != e["system_a"].as_str().unwrap()
            || file_name(&a["system_b"]) != e["system_b"].as_str().unwrap()
            || a["metric"] != e["metric"]
        {
            errors.push(format!(
                "{what}: got {} -> {} {}",
                a["system_a"], a["system_b"], a["metric"]
            ));
            continue;
        }
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        if (f(e, "diff") - f(a, "diff")).abs() > 1e-9 {
            errors.push(format!(
                "{what}: diff {} expected {}",
                f(a, "diff"),
                f(e, "diff")
            ));
        }
        let sd = f(e, "bootstrap_sd");
        for k in ["ci_low", "ci_high"] {
            let tol = 0.25 * sd + 1e-9;
            if (f(e, k) - f(a, k)).abs() > tol {
                errors.push(format!(
                    "{what}: {k} {} expected {} ± {tol}",
                    f(a, k),
                    f(e, k)
                ));
            }
        }
        let (pe, pa) = (f(e, "p_value"), f(a, "p_value"));
        let tol = if e["p_exact"] == Value::Bool(true) {
            1e-9
        } else {
            5.0 * (2.0 * pe * (1.0 - pe) / resamples).sqrt() + 2.0 / resamples
        };
        if (pe - pa).abs() > tol {
            errors.push(format!("{what}: p {pa} expected {pe} ± {tol}"));
        }
        for k in [
            "system_a", "system_b", "metric", "diff", "ci_low", "ci_high", "p_value",
        ] {
            if a.get(k).is_none() {
                errors.push(format!("{what}: no {k}"));
            }
        }
    }
    errors
}

#[test]
fn significance_agrees_with_scipy_and_statsmodels() {
    let exp = expected();
    let case = &exp["significance"];
    let r = report(
        &files_of(case),
        &["--significance", "--resamples", "10000", "--seed", "3"],
    );
    let errors = check_significance(case, &r);
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
    let s = &r["significance_settings"];
    assert_eq!(s["resamples"], 10000);
    assert_eq!(s["seed"], 3);
    assert_eq!(s["n"], case["n"]);
    // B (9% label noise) against A (16%): every metric clearly better.
    let ab: Vec<&Value> = r["significance"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            file_name(&c["system_a"]) == "sig_a.jsonl" && file_name(&c["system_b"]) == "sig_b.jsonl"
        })
        .collect();
    assert_eq!(ab.len(), 7);
    for c in ab.iter().filter(|c| c["metric"] != "f1:espionage") {
        assert!(c["p_value"].as_f64().unwrap() < 0.01, "{c}");
        assert!(c["ci_low"].as_f64().unwrap() > 0.0, "{c}");
    }
}

#[test]
fn identical_systems_give_diff_zero_and_p_one() {
    let exp = expected();
    let case = &exp["identical"];
    let r = report(&files_of(case), &["--significance", "--resamples", "2000"]);
    let got = r["significance"].as_array().unwrap();
    assert_eq!(got.len(), 7);
    for c in got {
        for (k, v) in [
            ("diff", 0.0),
            ("ci_low", 0.0),
            ("ci_high", 0.0),
            ("p_value", 1.0),
        ] {
            assert_eq!(c[k].as_f64(), Some(v), "{k} in {c}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_numbers_and_another_seed_others() {
    let files = files_of(&expected()["significance"]);
    let one = report(
        &files,
        &["--significance", "--resamples", "500", "--seed", "9"],
    );
    let two = report(
        &files,
        &["--significance", "--resamples", "500", "--seed", "9"],
    );
    let three = report(
        &files,
        &["--significance", "--resamples", "500", "--seed", "10"],
    );
    assert_eq!(one["significance"], two["significance"]);
    assert_ne!(one["significance"], three["significance"]);
}

#[test]
fn mcnemar_matches_statsmodels_including_large_counts() {
    // Two systems built to have exactly b and c discordant paragraphs, through the binary.
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for case in exp["mcnemar"].as_array().unwrap() {
        let (b, c) = (case["b"].as_u64().unwrap(), case["c"].as_u64().unwrap());
        let n = b + c + 20;
        let mut gold = String::new();
        let mut sa = String::new();
        let mut sb = String::new();
        for i in 0..n {
            // The first b: only A right; the next c: only B right; then 10 both right, 10 both wrong.
            let (a_ok, b_ok) = if i < b {
                (true, false)
            } else if i < b + c {
                (false, true)
            } else {
                (i % 2 == 0, i % 2 == 0)
            };
            let line = |ok: bool| {
                format!(
                    "{{\"id\":\"u{i}\",\"labels\":{}}}\n",
                    if ok { "[\"espionage\"]" } else { "[]" }
                )
            };
            gold.push_str(&line(true));
            sa.push_str(&line(a_ok));
            sb.push_str(&line(b_ok));
        }
        let paths: Vec<PathBuf> = ["g", "a", "b"]
            .iter()
            .zip([&gold, &sa, &sb])
            .map(|(name, text)| {
                let p = dir.path().join(format!("{name}.jsonl"));
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_veille"))
            .arg("compare")
            .args(&paths)
            .args([
                "--significance",
                "--resamples",
                "20",
                "--format",
                "json",
                "-q",
            ])
            .output()
            .unwrap();
        let r: Value = serde_json::from_str(&ok(&o)).unwrap();
        let em = r["significance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["metric"] == "exact_match")
            .unwrap()
            .clone();
        let (want, got) = (
            case["p_value"].as_f64().unwrap(),
            em["p_value"].as_f64().unwrap(),
        );
        assert!(
            (want - got).abs() < 1e-9,
            "b={b} c={c}: {got} vs statsmodels {want}"
        );
        assert_eq!(em["test"], "mcnemar-exact");
    }
}

#[test]
fn significance_needs_two_systems() {
    let o = compare(&["sig_gold.jsonl", "sig_a.jsonl"], &["--significance"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at least two systems"));
}

#[test]
fn slices_agree_with_sklearn_and_cover_every_paragraph() {
    let exp = expected();
    let case = &exp["slices"];
    let r = report(&files_of(case), &["--by", "meta.source"]);
    let s = &r["slices"];
    assert_eq!(s["by"], "meta.source");
    assert_eq!(s["support"], case["support"]);
    let mut errors = Vec::new();
    let pairs = case["pairs"].as_array().unwrap();
    assert_eq!(s["pairs"].as_array().unwrap().len(), pairs.len());
    for (i, (e, a)) in pairs.iter().zip(s["pairs"].as_array().unwrap()).enumerate() {
        for (key, es) in e["slices"].as_object().unwrap() {
            let Some(as_) = a["slices"].get(key) else {
                errors.push(format!("pair {i}: no slice {key}"));
                continue;
            };
            compare_values(&format!("pair {i} {key}"), es, as_, &mut errors);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let total: u64 = s["support"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, r["n_joined"].as_u64().unwrap());
    assert!(s["support"].get("(none)").is_some());
}

fn compare_values(path: &str, e: &Value, a: &Value, errors: &mut Vec<String>) {
    match (e, a) {
        (Value::Object(eo), _) => {
            for (k, v) in eo {
                match a.get(k) {
                    Some(av) => compare_values(&format!("{path}.{k}"), v, av, errors),
                    None => errors.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            if (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() > 1e-9 {
                errors.push(format!("{path}: {y}, expected {x}"));
            }
        }
        _ if e == a => {}
        _ => errors.push(format!("{path}: {a}, expected {e}")),
    }
}

#[test]
fn slices_by_lang_and_doc_and_every_format_shows_both_sections() {
    let files = ["sig_gold.jsonl", "sig_a.jsonl", "sig_b.jsonl"];
    let r: Value = serde_json::from_str(&ok(&compare(
        &files,
        &["--by", "lang", "--format", "json", "-q"],
    )))
    .unwrap();
    let keys: Vec<&String> = r["slices"]["support"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["en", "fr", "sv"]);
    // Per-lang slices agree with the always-on per_lang figures.
    let en = &r["slices"]["pairs"][0]["slices"]["en"];
    assert_eq!(en["macro_f1"], r["pairs"][0]["per_lang"]["en"]["macro_f1"]);
    let r: Value = serde_json::from_str(&ok(&compare(
        &files,
        &["--by", "doc", "--format", "json", "-q"],
    )))
    .unwrap();
    assert_eq!(r["slices"]["support"].as_object().unwrap().len(), 50);

    let extra = [
        "--significance",
        "--resamples",
        "300",
        "--by",
        "meta.month",
        "-q",
    ];
    let table = ok(&compare(&files, &extra));
    assert!(table.contains("significance:"), "{table}");
    assert!(table.contains("B → C"), "{table}");
    assert!(table.contains("mcnemar-exact"), "{table}");
    assert!(table.contains("B vs A by meta.month"), "{table}");
    assert!(table.contains("2026-02"), "{table}");
    let mut md_args = extra.to_vec();
    md_args.extend(["--format", "markdown"]);
    let md = ok(&compare(&files, &md_args));
    assert!(md.contains("## Significance"), "{md}");
    assert!(md.contains("| systems | metric |"), "{md}");
    assert!(md.contains("by `meta.month`"), "{md}");
    let mut csv_args = extra.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = ok(&compare(&files, &csv_args));
    assert!(
        csv.lines()
            .any(|l| l.contains(",significance,macro_f1,p_value,")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.contains(",slice:meta.month,2026-01,f1:espionage,")),
        "{csv}"
    );
    let mut html_args = extra.to_vec();
    html_args.extend(["--format", "html"]);
    let html = ok(&compare(&files, &html_args));
    assert!(html.contains("<h2>Significance</h2>"));
    assert!(html.contains("95% interval"));
    assert!(html.contains("<circle"));
    assert!(html.contains("By <code>meta.month</code>"));
}

#[test]
fn a_bad_slicing_is_a_usage_error() {
    let o = compare(&["sig_gold.jsonl", "sig_a.jsonl"], &["--by", "source"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("meta.FIELD"));
}
