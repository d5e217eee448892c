//! The harness of tests/stream.rs: heads for the tests, corpus lines, and a running
//! `veille stream` whose stdout and stderr lines arrive on channels.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};
use veille::classify::heads::{Heads, LabelHead, HEADS_FORMAT};
use veille::labels::Label;

/// Only there so that a broken stream fails the test instead of hanging it.
pub const HANG: Duration = Duration::from_secs(300);

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn models() -> PathBuf {
    root().join("models")
}

/// The heads file for every test: the installed one, or fixed heads written once.
pub fn heads() -> &'static Path {
    static HEADS: OnceLock<(Option<tempfile::TempDir>, PathBuf)> = OnceLock::new();
    let (_, path) = HEADS.get_or_init(|| {
        let installed = models().join("heads/embed.json");
        if Heads::load(&installed).is_ok() {
            return (None, installed);
        }
        let e5 = models().join("multilingual-e5-small");
        let encoder =
            veille::models::model_id_of_dir(&e5).expect("multilingual-e5-small is installed");
        let heads = Heads {
            format: HEADS_FORMAT,
            encoder,
            prefix: "passage: ".into(),
            encoder_delta: None,
            corpus_sha256: "fixed heads of tests/stream.rs".into(),
            settings: serde_json::json!({}),
            char_ngrams: None,
            char_model: None,
            heads: Label::ALL
                .iter()
                .enumerate()
                .map(|(i, &label)| LabelHead {
                    label,
                    weights: (0..384)
                        .map(|j| ((i + 1) as f32 * (j + 1) as f32).sin() * 0.5)
                        .collect(),
                    bias: 0.0,
                    scale: 1.0,
                    shift: 0.0,
                    threshold: 0.5,
                })
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("embed.json");
        heads.save(&path).unwrap();
        (Some(dir), path)
    });
    path
}

/// Corpus records of every language, interleaved, without their `doc` field (so that each
/// is its own document in `classify` as well as in `stream`).
pub fn corpus_lines(n: usize) -> Vec<String> {
    let langs: Vec<Vec<serde_json::Value>> = ["sv", "en", "fr"]
        .iter()
        .map(|l| {
            let text = std::fs::read_to_string(root().join(format!("corpora/labelled/{l}.jsonl")))
                .unwrap();
            text.lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        })
        .collect();
    (0..n)
        .map(|i| {
            let mut v = langs[i % 3][i / 3 * 5 + 2].clone(); // skip ahead: fewer headlines and bylines
            v.as_object_mut().unwrap().remove("doc");
            v.to_string()
        })
        .collect()
}

pub fn english(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "text": "The government announced new rules on Tuesday requiring foreign-funded lobbying groups to register with the national authority."
    })
    .to_string()
}

/// A running `veille stream`: stdout and stderr lines arrive on channels.
pub struct Stream {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub out: Receiver<String>,
    pub err: Receiver<String>,
    pub err_seen: Vec<String>,
}

pub fn command(extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veille"));
    c.arg("stream")
        .arg("--heads")
        .arg(heads())
        .arg("--models")
        .arg(models())
        .args(["--threads", "1"])
        .args(extra)
        .env("RUST_LOG", "veille::stream=debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn spawn(extra: &[&str]) -> Stream {
    let mut child = command(extra).spawn().expect("run veille stream");
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let stdin = child.stdin.take();
    Stream {
        child,
        stdin,
        out,
        err,
        err_seen: Vec::new(),
    }
}

/// Reads stderr lines until one contains `what`; returns the lines read.
pub fn wait_log(err: &mut Receiver<String>, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let start = Instant::now();
    while start.elapsed() < HANG {
        match err.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no {what:?} on stderr:\n{}", seen.join("\n"));
}

pub fn wait_child(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            panic!("veille stream did not exit");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Stream {
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn record(&mut self) -> serde_json::Value {
        let line = self
            .out
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("no record; stderr:\n{}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Waits for a stderr line containing `what` (the debug log of the stream stages).
    pub fn wait_log(&mut self, what: &str) {
        self.err_seen.extend(wait_log(&mut self.err, what));
    }

    pub fn stderr(&mut self) -> String {
        self.err_seen.extend(self.err.try_iter());
        self.err_seen.join("\n")
    }

    /// Waits for the exit (stdin is left as it is).
    pub fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }

    /// Closes stdin, collects the rest of stdout and the exit status.
    pub fn finish(mut self) -> (Vec<serde_json::Value>, ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.wait();
        let rest: Vec<serde_json::Value> = self
            .out
            .iter()
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect();
        let err = self.stderr() + "\n" + &self.err.iter().collect::<Vec<_>>().join("\n");
        (rest, status, err)
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -s {name}");
    }
}
