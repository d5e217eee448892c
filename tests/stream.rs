//! `veille stream` end to end: the real binary through pipes, on the installed
//! multilingual-e5-small, fed from corpora/labelled.
//!
//! Heads: models/heads/embed.json when it is installed and valid, otherwise fixed heads
//! built here for the same encoder (labels then mean nothing, but every stage runs).
//! Nothing here measures speed: waits have generous limits that only stop a hung test
//! (see scripts/bench-stream.sh for latency and throughput).

#[path = "stream/harness.rs"]
mod harness;

use harness::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

fn ids(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn code_for(records: &[serde_json::Value]) -> i32 {
    records.iter().any(|r| !r["error"].is_null()) as i32
}

#[test]
fn output_matches_classify_in_input_order_and_eof_flushes_the_last_batch() {
    let lines = corpus_lines(40);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let classify = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("classify")
        .arg(&file)
        .arg("--heads")
        .arg(heads())
        .arg("--models")
        .arg(models())
        .args(["--threads", "1"])
        .output()
        .unwrap();
    let want: Vec<serde_json::Value> = String::from_utf8(classify.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        want.len(),
        40,
        "{}",
        String::from_utf8_lossy(&classify.stderr)
    );

    // 40 = 5 x 7 + 5: the last 5 wait for EOF (the wait is far beyond the test).
    let mut s = spawn(&["--max-batch", "7", "--max-wait-ms", "600000"]);
    for l in &lines {
        s.send(l);
    }
    let (got, status, err) = s.finish();
    assert_eq!(ids(&got), ids(&want), "{err}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g["lang"], &g["labels"], &g["error"], &g["meta"]),
            (&w["lang"], &w["labels"], &w["error"], &w["meta"])
        );
        for (label, score) in w["scores"].as_object().unwrap() {
            let d = (g["scores"][label].as_f64().unwrap() - score.as_f64().unwrap()).abs();
            assert!(
                d < 1e-3,
                "{} {label}: {} vs {score}",
                w["id"],
                g["scores"][label]
            );
        }
        assert_eq!(g["doc"], "stdin");
    }
    assert!(
        want.iter().filter(|r| r["error"].is_null()).count() >= 30,
        "most records classify"
    );
    assert_eq!(status.code(), Some(code_for(&want)), "{err}");
    assert_eq!(Some(status.code().unwrap()), classify.status.code());
}

#[test]
fn a_full_batch_goes_out_while_input_stays_open() {
    // Only the size can flush: the wait is far beyond the test.
    let mut s = spawn(&["--max-batch", "3", "--max-wait-ms", "600000"]);
    for i in 1..=3 {
        s.send(&english(&format!("r{i}")));
    }
    let first: Vec<serde_json::Value> = (0..3).map(|_| s.record()).collect();
    assert_eq!(ids(&first), ["r1", "r2", "r3"]);
    s.send(&english("r4"));
    let (rest, status, err) = s.finish();
    assert_eq!(ids(&rest), ["r4"], "EOF flushes the partial batch");
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn a_lone_record_goes_out_after_the_wait_while_input_stays_open() {
    // Only the wait can flush: the batch size is never reached.
    let mut s = spawn(&["--max-batch", "1000", "--max-wait-ms", "100"]);
    s.send(&english("alone"));
    assert_eq!(s.record()["id"], "alone");
    s.send(&english("again"));
    let r = s.record();
    assert_eq!(r["id"], "again");
    assert_eq!(r["lang"], "en");
    assert_eq!(r["scores"].as_object().unwrap().len(), 4);
    let (rest, status, err) = s.finish();
    assert!(rest.is_empty());
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn bad_lines_become_error_records_with_their_line_numbers() {
    let huge = format!(
        "{{\"id\":\"huge\",\"text\":\"{}\"}}",
        "word ".repeat(700_000)
    ); // 3.5 MB
    let huge_error = format!("line too long in stdin at line 6: {} bytes", huge.len());
    let input: Vec<Vec<u8>> = vec![
        english("good1").into_bytes(),
        b"{\"id\":\"b\",\"text\":".to_vec(),
        b"{\"id\":\"c\",\"title\":\"no text\"}".to_vec(),
        b"{\"text\":\"caf\xe9 cr\xe8me\"}".to_vec(),
        b"{\"id\":\"e\",\"text\":\"   \"}".to_vec(),
        huge.into_bytes(),
        b"".to_vec(), // a blank line between records is no record
        b"[1, 2]".to_vec(),
        english("good9").into_bytes(),
    ];
    let mut s = spawn(&["--max-batch", "4"]);
    let mut stdin = s.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        for line in input {
            stdin.write_all(&line).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    });
    feeder.join().unwrap();
    let (got, status, err) = s.finish();
    assert_eq!(
        ids(&got),
        ["good1", "stdin#2", "c", "stdin#4", "e", "stdin#6", "stdin#8", "good9"],
        "{err}"
    );
    let error = |i: usize| {
        got[i]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {}", got[i]))
            .to_string()
    };
    assert!(
        error(1).contains("invalid JSON in stdin at line 2"),
        "{}",
        error(1)
    );
    assert!(
        error(2).contains("line 3: no \"text\" field"),
        "{}",
        error(2)
    );
    assert!(
        error(3).contains("invalid UTF-8 in stdin at line 4"),
        "{}",
        error(3)
    );
    assert!(
        error(4).contains("empty text in stdin at line 5"),
        "{}",
        error(4)
    );
    assert!(error(5).contains(&huge_error), "{}", error(5));
    assert!(
        error(6).contains("line 8: expected a JSON object"),
        "{}",
        error(6)
    );
    let paras: Vec<u64> = got.iter().map(|r| r["para"].as_u64().unwrap()).collect();
    assert_eq!(paras, [1, 2, 3, 4, 5, 6, 8, 9]);
    assert!(got[0]["error"].is_null() && got[7]["error"].is_null());
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("6 of 8 records are error records"), "{err}");
}

#[test]
fn text_lines_in_csv_out() {
    let mut s = spawn(&["--input", "text", "--format", "csv", "--max-batch", "2"]);
    let stdin = s.stdin.as_mut().unwrap();
    stdin.write_all(b"Regeringen presenterade i dag ett nytt lagf\xc3\xb6rslag om utl\xc3\xa4ndsk finansiering.\n\n").unwrap();
    stdin.write_all(b"bad \xff bytes\nLe gouvernement a pr\xc3\xa9sent\xc3\xa9 un projet de loi sur le lobbying.\n").unwrap();
    drop(s.stdin.take());
    let status = s.wait();
    let text: Vec<String> = s.out.iter().collect();
    assert_eq!(text.len(), 5, "a header and 4 rows: {text:?}");
    assert!(text[0].starts_with("id,doc,para,text,lang"));
    let rows: Vec<Vec<String>> = text[1..]
        .iter()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["stdin#1", "stdin#2", "stdin#3", "stdin#4"]
    );
    assert_eq!((rows[0][4].as_str(), rows[3][4].as_str()), ("sv", "fr"));
    assert!(
        text[2].contains("empty text in stdin at line 2"),
        "{}",
        text[2]
    );
    assert!(
        text[3].contains("invalid UTF-8 in stdin at line 3"),
        "{}",
        text[3]
    );
    assert_eq!(status.code(), Some(1));
}

#[test]
fn unordered_lets_bad_lines_overtake_the_waiting_batch() {
    let mut s = spawn(&[
        "--unordered",
        "--max-batch",
        "100",
        "--max-wait-ms",
        "600000",
    ]);
    s.send(&english("waits"));
    s.send("{broken");
    // The good record waits for its batch (EOF); the error record is written at once.
    assert_eq!(s.record()["id"], "stdin#2");
    let (rest, status, err) = s.finish();
    assert_eq!(ids(&rest), ["waits"]);
    assert!(rest[0]["error"].is_null());
    assert_eq!(status.code(), Some(1), "{err}");
}

/// Lines the model never sees (empty text), padded to 1 KiB so that they are cheap to
/// process but weigh on memory if veille kept reading while its output is blocked.
fn padded_line(i: usize) -> String {
    format!(
        "{{\"id\":\"p{i}\",\"text\":\"\",\"pad\":\"{}\"}}\n",
        "x".repeat(1000)
    )
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_blocked_consumer_stops_the_reader_and_memory_stays_bounded() {
    const TOTAL: usize = 200_000; // ~200 MB offered
    let mut child = command(&["--max-batch", "32"]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut err = lines_of(child.stderr.take().unwrap());
    // stdout is not read until the end: the pipe fills up and the writer blocks.
    let stdout = child.stdout.take().unwrap();
    // Models are loaded once the first line is queued.
    stdin.write_all(padded_line(0).as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_log(&mut err, "stdin line 1 queued");
    let pid = child.id();
    let base = vm_rss_kib(pid);

    let fed = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let feeder: JoinHandle<()> = {
        let (fed, stop) = (fed.clone(), stop.clone());
        thread::spawn(move || {
            for i in 1..TOTAL {
                if stop.load(Ordering::SeqCst)
                    || stdin.write_all(padded_line(i).as_bytes()).is_err()
                {
                    break;
                }
                fed.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Wait until the feeder is blocked (no progress for 3 s), or has fed everything.
    let (mut last, mut still) = (0, 0);
    while still < 6 && fed.load(Ordering::SeqCst) < TOTAL {
        thread::sleep(Duration::from_millis(500));
        let now = fed.load(Ordering::SeqCst);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    let blocked_at = fed.load(Ordering::SeqCst);
    let grown_mib = vm_rss_kib(pid).saturating_sub(base) / 1024;
    println!(
        "reader blocked after {blocked_at} lines; RSS grew {grown_mib} MiB over {} MiB",
        base / 1024
    );
    // Then unblock: every line fed gets its record, in order.
    stop.store(true, Ordering::SeqCst);
    let out = lines_of(stdout);
    let _ = err.iter().count(); // keep stderr drained
    feeder.join().unwrap();
    let status = wait_child(&mut child);
    let out: Vec<String> = out.iter().collect();
    let fed = fed.load(Ordering::SeqCst);

    assert!(
        blocked_at < 20_000,
        "veille kept reading ({blocked_at} of {TOTAL} lines) with its output blocked"
    );
    assert!(
        grown_mib < 64,
        "memory grew by {grown_mib} MiB with the output blocked"
    );
    assert_eq!(out.len(), fed, "one record per line");
    let last: serde_json::Value = serde_json::from_str(out.last().unwrap()).unwrap();
    assert_eq!(last["id"], format!("p{}", fed - 1));
    assert_eq!(status.code(), Some(1));
}

/// A signal with records read but not yet batched: they are classified and written,
/// and veille exits while its stdin is still open.
fn signal_flushes_what_was_read(signal: &str) {
    let mut s = spawn(&["--max-batch", "100", "--max-wait-ms", "600000"]);
    for i in 1..=3 {
        s.send(&english(&format!("s{i}")));
    }
    s.wait_log("stdin line 3 queued");
    s.signal(signal);
    let got: Vec<serde_json::Value> = (0..3).map(|_| s.record()).collect();
    assert_eq!(ids(&got), ["s1", "s2", "s3"]);
    let status = s.wait();
    assert!(s.stdin.is_some(), "stdin was still open");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
}

#[test]
fn sigterm_finishes_what_was_read_and_exits() {
    signal_flushes_what_was_read("TERM");
}

#[test]
fn sigint_finishes_what_was_read_and_exits() {
    signal_flushes_what_was_read("INT");
}

#[test]
fn a_closed_stdout_ends_the_stream_quietly() {
    let mut child = command(&["--max-batch", "1", "--max-wait-ms", "10"])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let err = lines_of(child.stderr.take().unwrap());
    for i in 1..=3 {
        writeln!(stdin, "{}", english(&format!("c{i}"))).unwrap();
    }
    stdin.flush().unwrap();
    // Like `| head -n 1`: read one line, then close the pipe.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(HANG).expect("a first record");
    assert!(first.contains("\"id\":\"c1\""), "{first}");
    // stdin stays open: only the closed stdout can end the stream. More input (written
    // while it may already be gone) must not change that.
    for i in 4..=10 {
        let _ = writeln!(stdin, "{}", english(&format!("c{i}")));
    }
    let _ = stdin.flush();
    let status = wait_child(&mut child);
    let err: Vec<String> = err.iter().collect();
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}\n{err:?}");
    assert!(err.is_empty(), "stderr is not quiet: {err:?}");
    drop(stdin);
}

#[test]
fn a_missing_or_broken_model_fails_at_start() {
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_veille"))
            .arg("stream")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.stdout,
        )
    };
    let (code, err, out) = run(&["--heads", "/nonexistent/heads.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/heads.json"), "{err}");
    assert!(out.is_empty());
    let empty = tempfile::tempdir().unwrap();
    let heads = heads().display().to_string();
    let (code, err, _) = run(&[
        "--heads",
        &heads,
        "--models",
        &empty.path().display().to_string(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not installed in"), "{err}");
}

/// Runs the stream over `lines` to EOF and returns its records.
fn stream_all(extra: &[&str], lines: &[String]) -> Vec<serde_json::Value> {
    let mut child = command(extra).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all((lines.join("\n") + "\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_documents_language_carries_across_micro_batches() {
    let body = "Regeringen vill skärpa kontrollen av utländska investeringar i hamnar och flygplatser, sade näringsministern på tisdagen.";
    // A caption too short to tell on its own (it is `und` alone).
    let caption = "Foto: Privat";
    let line = |id: &str, doc: Option<&str>, text: &str| {
        let mut v = serde_json::json!({"id": id, "text": text});
        if let Some(d) = doc {
            v["doc"] = d.into();
        }
        v.to_string()
    };
    let lines = [
        line("a1", Some("a"), body),
        line("b1", Some("b"), caption), // a document never seen in Swedish
        line("a2", Some("a"), caption), // after its document's paragraph, in a later batch
        line("s1", None, body),
        line("s2", None, caption), // lines without `doc` are not one document
    ];
    // One record per micro-batch: no two lines ever share a batch.
    let recs = stream_all(&["--max-batch", "1"], &lines);
    assert_eq!(ids(&recs), ["a1", "b1", "a2", "s1", "s2"]);
    let lang = |i: usize| {
        (
            recs[i]["lang"].as_str().unwrap(),
            recs[i]["lang_source"].as_str().unwrap(),
        )
    };
    assert_eq!(lang(0), ("sv", "detected"));
    assert_eq!(lang(1), ("und", "detected"), "{}", recs[1]);
    assert_eq!(lang(2), ("sv", "document"), "{}", recs[2]);
    assert_eq!(lang(4), ("und", "detected"), "{}", recs[4]);

    // Without the memory the later caption is on its own again.
    let recs = stream_all(&["--max-batch", "1", "--doc-memory", "0"], &lines);
    assert_eq!(recs[2]["lang"], "und", "{}", recs[2]);

    // A memory of one document forgets `a` once `b` is newer.
    let lines = [
        line("a1", Some("a"), body),
        line("b1", Some("b"), body),
        line("a2", Some("a"), caption),
    ];
    let recs = stream_all(&["--max-batch", "1", "--doc-memory", "1"], &lines);
    assert_eq!(recs[2]["lang"], "und", "{}", recs[2]);
}

#[test]
fn forced_language_in_a_stream() {
    let lines = [
        english("e1"),
        r#"{"id":"n1","text":"Selskapet ønsker ikke å kommentere saken"}"#.to_string(),
    ];
    let recs = stream_all(&["--lang", "fr"], &lines);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["lang"], "fr", "{r}");
        assert_eq!(r["lang_source"], "forced", "{r}");
        assert!(r["error"].is_null(), "{r}");
    }
}
