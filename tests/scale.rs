//! Batch runs at scale, through the real binary: `--resume` after `kill -9`, overwrite
//! refusal, `--shard`, Parquet, the provenance manifest, the summary line, closed stdout
//! and spreadsheet-safe CSV.

#[path = "scale/corpus.rs"]
mod corpus;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn veille() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veille"));
    // One libtorch thread: light on shared machines, and the same arithmetic every run.
    c.env_remove("RUST_LOG");
    c
}

fn classify(args: &[&str]) -> Command {
    let mut c = veille();
    c.arg("classify").args(["--threads", "1"]).args(args);
    c
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("runs")
}

/// Exit 0, or 1 when some records are error records (short lines in an unsupported or
/// uncertain language are, in the generated corpora).
fn finished(o: &Output) -> bool {
    matches!(o.status.code(), Some(0 | 1))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn records(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small deterministic generator (xorshift), so the kill points are the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn resume_after_kill_9_gives_the_uninterrupted_records_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    let ids = corpus::write_corpus(&input, 600, "k", true);
    let reference = dir.path().join("reference.jsonl");
    let o = run(classify(&[s(&input), "-o", s(&reference)]));
    assert!(finished(&o), "{}", stderr(&o));
    let full = std::fs::read(&reference).unwrap();

    let out = dir.path().join("out.jsonl");
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut kills = Vec::new();
    let mut torn_seen = false;
    for round in 0..4 {
        let mut child = classify(&[s(&input), "-o", s(&out), "--resume"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start_len = file_len(&out);
        // Round 0 dies while loading models (nothing written yet); the others once the
        // file has grown by a random amount, i.e. in the middle of writing records.
        let grow = if round == 0 {
            0
        } else {
            1 + rng.below(full.len() as u64 / 5)
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if round == 0 {
                std::thread::sleep(Duration::from_millis(300 + rng.below(500)));
                break;
            }
            if file_len(&out) >= start_len + grow || Instant::now() > deadline {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = std::fs::read(&out).unwrap_or_default();
        torn_seen |= !now.is_empty() && !now.ends_with(b"\n");
        // Whatever was written is a prefix of the uninterrupted output.
        assert!(full.starts_with(&now), "round {round}: not a prefix");
        kills.push(now.len());
    }
    let o = run(classify(&[s(&input), "-o", s(&out), "--resume"]));
    assert!(finished(&o), "{}", stderr(&o));
    let resumed = std::fs::read(&out).unwrap();
    let got: Vec<String> = records(&resumed)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ids, "one record per paragraph, in input order");
    assert!(
        resumed == full,
        "the resumed file differs from an uninterrupted run's (kills at {kills:?})"
    );
    eprintln!("kill points (bytes): {kills:?}, torn last line seen: {torn_seen}");
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.jsonl.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["complete"], true);
    assert_eq!(m["counts"]["records"], 600);
}

#[test]
fn resume_drops_a_torn_record_in_jsonl_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    corpus::write_corpus(&input, 120, "t", true);
    for format in ["jsonl", "csv"] {
        let full_path = dir.path().join(format!("full.{format}"));
        let o = run(classify(&[
            s(&input),
            "--format",
            format,
            "-o",
            s(&full_path),
        ]));
        assert!(finished(&o), "{}", stderr(&o));
        let full = std::fs::read(&full_path).unwrap();
        let mut rng = Rng(7 + format.len() as u64);
        for _ in 0..2 {
            // A file cut anywhere, as a killed writer leaves it, with its manifest.
            let cut = 1 + rng.below(full.len() as u64 - 1) as usize;
            let out = dir.path().join(format!("cut.{format}"));
            std::fs::write(&out, &full[..cut]).unwrap();
            std::fs::copy(
                dir.path().join(format!("full.{format}.manifest.json")),
                dir.path().join(format!("cut.{format}.manifest.json")),
            )
            .unwrap();
            let o = run(classify(&[
                s(&input),
                "--format",
                format,
                "-o",
                s(&out),
                "--resume",
            ]));
            assert!(finished(&o), "{}", stderr(&o));
            assert!(
                std::fs::read(&out).unwrap() == full,
                "{format} cut at {cut} of {} did not resume to the full file",
                full.len()
            );
        }
    }
}

#[test]
fn an_existing_output_is_not_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "precious\n").unwrap();
    let o = run(classify(&["corpora/sample/sv-hamnen.txt", "-o", s(&out)]));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    // Not a veille file and no manifest: resume refuses too.
    let o = run(classify(&[
        "corpora/sample/sv-hamnen.txt",
        "-o",
        s(&out),
        "--resume",
    ]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    let o = run(classify(&[
        "corpora/sample/sv-hamnen.txt",
        "-o",
        s(&out),
        "--force",
    ]));
    assert!(finished(&o), "{}", stderr(&o));
    assert_eq!(records(&std::fs::read(&out).unwrap()).len(), 6);
    // Parquet is only whole once finished: no resume.
    let pq = dir.path().join("out.parquet");
    let o = run(classify(&[
        "corpora/sample/sv-hamnen.txt",
        "--format",
        "parquet",
        "-o",
        s(&pq),
        "--resume",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("jsonl, csv or doccano"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn resume_refuses_other_heads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let o = run(classify(&["corpora/sample/sv-hamnen.txt", "-o", s(&out)]));
    assert!(finished(&o), "{}", stderr(&o));
    // The same heads with one threshold moved, beside the same fine-tuned layers.
    let heads_dir = dir.path().join("heads");
    std::fs::create_dir(&heads_dir).unwrap();
    let installed = Path::new("models/heads/embed.json");
    let mut heads: Value = serde_json::from_slice(&std::fs::read(installed).unwrap()).unwrap();
    // The files it names (fine-tuned layers, n-gram model) come along as links.
    for key in ["encoder_delta", "char_ngrams"] {
        if let Some(name) = heads[key].as_str() {
            std::os::unix::fs::symlink(
                std::fs::canonicalize(Path::new("models/heads").join(name)).unwrap(),
                heads_dir.join(name),
            )
            .unwrap();
        }
    }
    let t = heads["heads"][0]["threshold"].as_f64().unwrap();
    heads["heads"][0]["threshold"] = serde_json::json!(t * 0.5);
    let other = heads_dir.join("embed.json");
    std::fs::write(&other, serde_json::to_vec(&heads).unwrap()).unwrap();
    let before = std::fs::read(&out).unwrap();
    let o = run(classify(&[
        "corpora/sample/sv-hamnen.txt",
        "-o",
        s(&out),
        "--resume",
        "--heads",
        s(&other),
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("other models"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

/// Ids per record of `veille detect` (no model to load: fast) over `input`.
fn detect_ids(input: &Path, extra: &[&str]) -> Vec<String> {
    let o = run(veille().arg("detect").arg(input).args(extra));
    assert!(finished(&o), "{}", stderr(&o));
    records(&o.stdout)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn shards_are_disjoint_and_cover_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    let all = corpus::write_corpus(&input, 1500, "s", true);
    let n = 4;
    let mut union: Vec<String> = Vec::new();
    for k in 0..n {
        let part = detect_ids(&input, &["--shard", &format!("{k}/{n}")]);
        assert!(part.len() > 150, "shard {k}/{n} holds {}", part.len());
        // Stable: the same shard twice.
        assert_eq!(part, detect_ids(&input, &["--shard", &format!("{k}/{n}")]));
        union.extend(part);
    }
    let mut sorted = union.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), union.len(), "a paragraph in two shards");
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(sorted, expected, "the shards together are the whole input");
    // Articles stay whole: all paragraphs of a document are in the same shard.
    let text = std::fs::read_to_string(&input).unwrap();
    let doc_of: std::collections::HashMap<String, String> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().into(),
                v["doc"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut shard_of_doc = std::collections::HashMap::new();
    for k in 0..n {
        for id in detect_ids(&input, &["--shard", &format!("{k}/{n}")]) {
            let prev = shard_of_doc.insert(doc_of[&id].clone(), k);
            assert!(
                prev.is_none() || prev == Some(k),
                "document split across shards"
            );
        }
    }
    // classify takes the same documents as detect.
    let small = dir.path().join("small.jsonl");
    corpus::write_corpus(&small, 120, "c", true);
    let o = run(classify(&[s(&small), "--shard", "1/3"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<String> = records(&o.stdout)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, detect_ids(&small, &["--shard", "1/3"]));
    let bad = run(veille().args(["detect", "--shard", "4/4", "corpora/sample"]));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn parquet_holds_one_row_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("out.parquet");
    let o = run(classify(&[
        "corpora/sample",
        "--format",
        "parquet",
        "-o",
        s(&pq),
    ]));
    assert!(finished(&o), "{}", stderr(&o));
    let o = run(classify(&["corpora/sample"]));
    assert!(finished(&o), "{}", stderr(&o));
    let jsonl: Vec<veille::record::Record> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = veille::sinks::parquet::read_records(&pq).unwrap();
    assert_eq!(rows.len(), 21);
    assert_eq!(rows, jsonl, "the Parquet rows are the JSONL records");
    let m: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out.parquet.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["settings"]["format"], "parquet");
}

fn sha256sum(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_manifest_says_what_made_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let o = run(classify(&[
        "corpora/sample",
        "--format",
        "csv",
        "-o",
        s(&out),
    ]));
    assert!(finished(&o), "{}", stderr(&o));
    // Off a terminal: one summary line.
    let err = stderr(&o);
    assert!(
        err.contains("veille: 21 records (0 errors) in") && err.contains("paragraphs/s"),
        "{err}"
    );
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["veille_version"], env!("CARGO_PKG_VERSION"));
    let cmd: Vec<&str> = m["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[1..3], &["classify", "--threads"]);
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4);
    for i in inputs {
        let p = PathBuf::from(i["path"].as_str().unwrap());
        assert_eq!(
            i["bytes"].as_u64().unwrap(),
            std::fs::metadata(&p).unwrap().len()
        );
        assert_eq!(i["sha256"].as_str().unwrap(), sha256sum(&p));
    }
    assert_eq!(m["models"]["strategy"], "embed");
    assert_eq!(
        m["models"]["heads_sha256"].as_str().unwrap(),
        sha256sum(Path::new("models/heads/embed.json"))
    );
    assert!(m["models"]["model_id"].as_str().unwrap().contains("heads:"));
    assert_eq!(m["counts"]["records"], 21);
    assert_eq!(m["counts"]["errors"], 0);
    let labelled: u64 = m["counts"]["labels"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let csv_labels = std::fs::read_to_string(&out).unwrap();
    let mut reader = csv::Reader::from_reader(csv_labels.as_bytes());
    let from_csv: usize = reader
        .records()
        .map(|r| r.unwrap()[8].split(';').filter(|l| !l.is_empty()).count())
        .sum();
    assert_eq!(labelled as usize, from_csv);
    assert_eq!(m["complete"], true);
    assert!(m["started"].as_str().unwrap().ends_with('Z'));
    assert!(m["finished"].as_str().unwrap() >= m["started"].as_str().unwrap());
    assert!(m["paragraphs_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn csv_cells_that_would_be_formulas_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("evil.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"=cmd|' /C calc'!A0\", \"text\": \"=HYPERLINK(\\\"http://example.invalid\\\",\\\"Säkerhetspolisen varnar för spionage\\\")\"}\n{\"id\": \"ok\", \"text\": \"-Regeringen presenterar nya regler för export av drönare.\"}\n{\"id\": \"plain\", \"text\": \"Regeringen presenterar nya regler.\"}\n",
    )
    .unwrap();
    let cells = |extra: &[&str]| -> Vec<Vec<String>> {
        let o = run(classify(&[s(&input), "--format", "csv"]).args(extra));
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(1),
            "{}",
            stderr(&o)
        );
        csv::Reader::from_reader(o.stdout.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    };
    let safe = cells(&[]);
    assert!(safe[0][0].starts_with("'=cmd"), "{:?}", safe[0]);
    assert!(safe[0][3].starts_with("'=HYPERLINK("), "{:?}", safe[0]);
    assert!(safe[1][3].starts_with("'-Regeringen"));
    assert!(safe[2][3].starts_with("Regeringen"));
    let raw = cells(&["--csv-raw"]);
    assert!(raw[0][3].starts_with("=HYPERLINK("));
    assert!(raw[1][3].starts_with("-Regeringen"));
}

/// Runs `cmd` with stdout a pipe that is closed after reading `lines` lines (0: closed at
/// once, before veille writes anything).
fn with_stdout_closed_after(cmd: &mut Command, lines: usize) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    if lines > 0 {
        let mut r = BufReader::new(stdout);
        for _ in 0..lines {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            assert!(!l.is_empty(), "fewer than {lines} lines");
        }
        drop(r);
    } else {
        drop(stdout);
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    corpus::write_corpus(&input, 2000, "p", false);
    let quiet = |what: &str, o: Output| {
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("error:"), "{what}: {}", stderr(&o));
    };
    // `veille classify ... | head -2`: the first group arrives, then the pipe closes.
    quiet(
        "classify | head -2",
        with_stdout_closed_after(&mut classify(&[s(&input)]), 2),
    );
    quiet(
        "classify | true",
        with_stdout_closed_after(&mut classify(&["corpora/sample"]), 0),
    );
    quiet(
        "detect | head -2",
        with_stdout_closed_after(veille().arg("detect").arg(&input), 2),
    );
    quiet(
        "detect --format csv | true",
        with_stdout_closed_after(veille().args(["detect", "--format", "csv"]).arg(&input), 0),
    );
    let gold = "tests/data/compare/large_gold.jsonl";
    let pred = "tests/data/compare/large_pred.jsonl";
    quiet(
        "compare | true",
        with_stdout_closed_after(veille().args(["compare", gold, pred]), 0),
    );
    quiet(
        "compare --format json | head -2",
        with_stdout_closed_after(
            veille().args(["compare", gold, pred, "--format", "json"]),
            2,
        ),
    );
    let mut stream = veille();
    stream
        .args(["stream", "--threads", "1", "--input", "text"])
        .stdin(std::fs::File::open("corpora/sample/sv-hamnen.txt").unwrap());
    let mut child = stream
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    quiet("stream | true", child.wait_with_output().unwrap());
}
