//! `veille models fetch NAME`: downloads a Marian model from a Hugging Face-compatible
//! endpoint, then installs it exactly as `veille models add` does.
//!
//! Protocol (the public hub's, and what the test suite's local server speaks):
//! 1. `GET {endpoint}/api/models/{name}/tree/{revision}` lists the repository: a JSON array
//!    of `{"type": "file", "path", "size", "oid", "lfs": {"oid", "size"}}`.
//! 2. Each needed file (`config.json`, `source.spm`, `target.spm`, `vocab.json`, and
//!    `model.safetensors`, else `rust_model.ot`) comes from
//!    `GET {endpoint}/{name}/resolve/{revision}/{file}`.
//! 3. Checks: an LFS file's `lfs.oid` is its sha256; a small (non-LFS) file's `oid` is its
//!    git blob id, `sha1("blob <len>\0" + bytes)`. Both are verified; a mismatch deletes the
//!    download and fails.
//!
//! Downloads go to `models/.cache/hub/<name>/<revision>/<file>.part` and are renamed when
//! complete and verified. An interrupted transfer leaves the `.part` file; running the same
//! command again resumes it with an HTTP `Range: bytes=<size>-` request (a server that
//! answers 200 instead of 206 restarts it). `HF_TOKEN`, when set, is sent as a bearer token.
//! A progress bar shows on stderr when it is a terminal.

use super::install::{add, infer_lang};
use crate::models::manifest::{sha256_file, Source};
use anyhow::{bail, Context, Result};
use sha1::Digest as _;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Where to download from.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub endpoint: String,
    pub revision: String,
}

/// How a file's content is verified.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Sha256(String),
    GitBlobSha1(String),
}

/// One file of the repository listing.
#[derive(Debug, Clone)]
pub struct RemoteFile {
    pub path: String,
    pub size: Option<u64>,
    pub expected: Expected,
}

fn get(url: &str, range_from: u64) -> Result<ureq::Response> {
    let mut req = ureq::get(url).timeout(std::time::Duration::from_secs(120));
    if range_from > 0 {
        req = req.set("Range", &format!("bytes={range_from}-"));
    }
    if let Ok(token) = std::env::var("HF_TOKEN") {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    match req.call() {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(code, r)) => {
            bail!("{url}: HTTP {code} {}", r.status_text())
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).with_context(|| format!("cannot reach {url}")),
    }
}

/// Lists the repository at `revision` and picks the files a Marian folder needs.
pub fn list_files(name: &str, opts: &FetchOptions) -> Result<Vec<RemoteFile>> {
    let url = format!(
        "{}/api/models/{name}/tree/{}",
        opts.endpoint.trim_end_matches('/'),
        opts.revision
    );
    let body = get(&url, 0)?
        .into_string()
        .with_context(|| format!("reading {url}"))?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body)
        .with_context(|| format!("{url} did not return a file listing (JSON array)"))?;
    let find = |path: &str| -> Option<RemoteFile> {
        let e = entries
            .iter()
            .find(|e| e.get("path").and_then(|p| p.as_str()) == Some(path))?;
        let lfs = e.get("lfs").filter(|l| l.is_object());
        let expected = match lfs {
            Some(l) => Expected::Sha256(l.get("oid")?.as_str()?.to_string()),
            None => Expected::GitBlobSha1(e.get("oid")?.as_str()?.to_string()),
        };
        let size = lfs
            .and_then(|l| l.get("size"))
            .or_else(|| e.get("size"))
            .and_then(|s| s.as_u64());
        Some(RemoteFile {
            path: path.to_string(),
            size,
            expected,
        })
    };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for f in ["config.json", "source.spm", "target.spm", "vocab.json"] {
        match find(f) {
            Some(r) => out.push(r),
            None => missing.push(f.to_string()),
        }
    }
    match super::marian::WEIGHT_NAMES.iter().find_map(|w| find(w)) {
        Some(r) => out.push(r),
        None => missing.push("model.safetensors or rust_model.ot".into()),
    }
    if !missing.is_empty() {
        bail!(
            "{name}@{} lacks {} (a Marian repository such as Helsinki-NLP/opus-mt-sv-en has them)",
            opts.revision,
            missing.join(", ")
        );
    }
    Ok(out)
}

/// The digest of a file in the form `expected` uses.
pub fn digest_of(path: &Path, expected: &Expected) -> Result<String> {
    match expected {
        Expected::Sha256(_) => sha256_file(path),
        Expected::GitBlobSha1(_) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut h = sha1::Sha1::new();
            h.update(format!("blob {}\0", bytes.len()).as_bytes());
            h.update(&bytes);
            Ok(hex::encode(h.finalize()))
        }
    }
}

fn expected_value(e: &Expected) -> (&str, &str) {
    match e {
        Expected::Sha256(v) => ("sha256", v),
        Expected::GitBlobSha1(v) => ("git blob sha1", v),
    }
}

fn bar(size: Option<u64>, done: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(size.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar.set_position(done);
    bar
}

/// Downloads `url` into `dest` (resuming `dest.part`), verifying size and digest.
pub fn download(url: &str, dest: &Path, file: &RemoteFile) -> Result<()> {
    let (kind, want) = expected_value(&file.expected);
    if dest.is_file() && digest_of(dest, &file.expected)? == want {
        return Ok(());
    }
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let mut offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if file.size.is_some_and(|s| offset > s) {
        offset = 0;
    }
    if file.size != Some(offset) || offset == 0 {
        let resp = get(url, offset)?;
        let append = offset > 0 && resp.status() == 206;
        if offset > 0 && !append {
            tracing::info!(
                "{url}: the server ignored the range request; downloading from the start"
            );
            offset = 0;
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .with_context(|| format!("opening {}", part.display()))?;
        let progress = bar(file.size, offset, &file.path);
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut done = offset;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    progress.abandon();
                    bail!(
                        "the download of {} was interrupted at {done} of {} bytes ({e}); run the same command again to resume",
                        file.path,
                        file.size.map_or("?".to_string(), |s| s.to_string())
                    );
                }
            };
            out.write_all(&buf[..n])
                .with_context(|| format!("writing {}", part.display()))?;
            done += n as u64;
            progress.set_position(done);
        }
        out.flush()?;
        progress.finish_and_clear();
        if let Some(size) = file.size.filter(|&s| s != done) {
            bail!(
                "the download of {} stopped at {done} of {size} bytes; run the same command again to resume",
                file.path
            );
        }
    }
    let got = digest_of(&part, &file.expected)?;
    if got != want {
        std::fs::remove_file(&part).ok();
        bail!("{kind} mismatch for {}: the listing says {want}, the download has {got}; the download was deleted", file.path);
    }
    std::fs::rename(&part, dest)
        .with_context(|| format!("moving {} to {}", part.display(), dest.display()))?;
    Ok(())
}

/// Downloads `name` and installs it into `models_dir`; returns the installed folder name.
pub fn fetch(
    name: &str,
    lang: Option<&str>,
    models_dir: &Path,
    opts: &FetchOptions,
    force: bool,
) -> Result<String> {
    let lang = infer_lang(lang, &[name])?;
    let files = list_files(name, opts)?;
    let cache = models_dir
        .join(".cache")
        .join("hub")
        .join(name.replace('/', "--"))
        .join(&opts.revision);
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let base = opts.endpoint.trim_end_matches('/');
    for f in &files {
        let url = format!("{base}/{name}/resolve/{}/{}", opts.revision, f.path);
        eprintln!("veille: fetching {url}");
        download(&url, &cache.join(&f.path), f)?;
    }
    let weights = files.last().expect("weights listed last");
    let weights_sha = sha256_file(&cache.join(&weights.path))?;
    let source = Source {
        origin: format!("hub:{name}@{}", opts.revision),
        file: Some(weights.path.clone()),
        sha256: Some(weights_sha.clone()),
        how: format!("veille models fetch from {base}: verified, checked; weights normalised to model.safetensors"),
    };
    let id = format!("{name}@{}:{}", opts.revision, &weights_sha[..12]);
    add(&cache, Some(&lang), models_dir, force, Some((source, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        // `git hash-object` of "hello\n".
        let want = "ce013625030ba8dba906f756967f9e9ca394464a";
        assert_eq!(
            digest_of(&p, &Expected::GitBlobSha1(want.into())).unwrap(),
            want
        );
    }
}
