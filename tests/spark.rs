//! The Spark example (`examples/spark/veille_spark.py`) on `local[2]`: 2,000 paragraphs
//! piped through `veille stream` on two executors come back as Parquet, one row per input
//! id, with the labels `veille classify` gives the same input.
//!
//! Needs `scripts/setup-spark.sh` (Java and PySpark in `.venv-spark`), which
//! `scripts/test.sh` runs; without it this test says so and passes without checking.

#[path = "scale/corpus.rs"]
mod corpus;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python when PySpark and a Java runtime are there.
fn spark_python() -> Option<PathBuf> {
    let py = root().join(".venv-spark/bin/python");
    let pyspark = Command::new(&py)
        .args(["-c", "import pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    (pyspark && java).then_some(py)
}

fn parquet_parts(dir: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    parts.sort();
    parts
}

#[test]
fn spark_local_2_gives_the_labels_of_classify() {
    let Some(python) = spark_python() else {
        eprintln!(
            "SKIPPED: PySpark or Java missing; run scripts/setup-spark.sh (scripts/test.sh does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    let ids = corpus::write_corpus(&input, 2000, "spark", false);
    let reference = dir.path().join("classify.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_veille"))
        .args(["classify", "--threads", "2", "--format", "parquet"])
        .arg(&input)
        .arg("-o")
        .arg(&reference)
        .output()
        .unwrap();
    // 1: some paragraphs are error records (e.g. a dateline whose language is unsure);
    // they are rows too, and Spark must give the same.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let expected = veille::sinks::parquet::read_records(&reference).unwrap();

    let out = dir.path().join("spark-out");
    let o = Command::new(&python)
        .arg(root().join("examples/spark/veille_spark.py"))
        .args([
            "--master",
            "local[2]",
            "--partitions",
            "2",
            "--threads",
            "1",
        ])
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .arg("--veille")
        .arg(env!("CARGO_BIN_EXE_veille"))
        .arg("--models")
        .arg(root().join("models"))
        .env("PYSPARK_PYTHON", &python)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "spark job failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let parts = parquet_parts(&out);
    assert!(!parts.is_empty(), "no Parquet parts in {}", out.display());
    let mut rows = HashMap::new();
    for p in &parts {
        for r in veille::sinks::parquet::read_records(p).unwrap() {
            assert!(rows.insert(r.id.clone(), r).is_none(), "an id twice");
        }
    }
    assert_eq!(rows.len(), ids.len(), "one row per input id");
    let mut differ = 0;
    for e in &expected {
        let r = rows
            .get(&e.id)
            .unwrap_or_else(|| panic!("no row for {}", e.id));
        assert_eq!(r.lang, e.lang, "{}", e.id);
        assert_eq!(r.error, e.error, "{}", e.id);
        if r.labels != e.labels {
            differ += 1;
        }
        // Batches are formed differently (micro-batches per partition), so floats may
        // differ in their last bits; labels may only flip on a score at its threshold.
        for (l, s) in &e.scores {
            let got = r.scores.get(l).copied().unwrap_or(f32::NAN);
            assert!((got - s).abs() < 1e-3, "{} {l}: {got} vs {s}", e.id);
        }
    }
    assert_eq!(differ, 0, "{differ} records got other labels than classify");
}
