//! A Hugging Face-compatible HTTP server on 127.0.0.1 for the `models fetch` tests: the
//! tree listing (`/api/models/{name}/tree/main`) and file downloads
//! (`/{name}/resolve/main/{file}`, with Range requests), plus faults on demand (a transfer
//! cut off half way, a wrong sha256 in the listing).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the local hub serves and what it saw.
#[derive(Default)]
pub struct Hub {
    pub files: Vec<(String, Vec<u8>)>,
    /// Cut this file off half way through, once.
    pub interrupt: Option<String>,
    /// List a wrong sha256 for this file.
    pub corrupt_sha: Option<String>,
    /// (path, Range start) of every file request.
    pub requests: Vec<(String, Option<u64>)>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn git_blob_sha1(bytes: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex::encode(h.finalize())
}

/// A Hugging Face-compatible server on 127.0.0.1 for `name`: tree listing and resolve.
pub fn serve(name: &'static str, hub: Arc<Mutex<Hub>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        // Bounded: a test makes a few dozen requests at most.
        for stream in listener.incoming().take(100) {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
            let range: Option<u64> = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(String::from)
                })
                .and_then(|r| r.trim_end_matches('-').trim().parse().ok());
            let mut h = hub.lock().unwrap();
            let reply = |s: &mut std::net::TcpStream, status: &str, headers: &str, body: &[u8]| {
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(body);
            };
            if path == format!("/api/models/{name}/tree/main") {
                let list: Vec<Value> = h
                    .files
                    .iter()
                    .map(|(f, b)| {
                        if f == "config.json" {
                            serde_json::json!({"type": "file", "path": f, "size": b.len(), "oid": git_blob_sha1(b)})
                        } else {
                            let sha = if h.corrupt_sha.as_deref() == Some(f) { "0".repeat(64) } else { sha256_hex(b) };
                            serde_json::json!({"type": "file", "path": f, "size": b.len(), "oid": "x", "lfs": {"oid": sha, "size": b.len()}})
                        }
                    })
                    .collect();
                reply(
                    &mut s,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    Value::from(list).to_string().as_bytes(),
                );
                continue;
            }
            let prefix = format!("/{name}/resolve/main/");
            let Some(file) = path.strip_prefix(&prefix).map(String::from) else {
                reply(&mut s, "404 Not Found", "", b"not found");
                continue;
            };
            h.requests.push((file.clone(), range));
            let Some(bytes) = h
                .files
                .iter()
                .find(|(f, _)| *f == file)
                .map(|(_, b)| b.clone())
            else {
                reply(&mut s, "404 Not Found", "", b"not found");
                continue;
            };
            if h.interrupt.as_deref() == Some(file.as_str()) {
                h.interrupt = None;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&bytes[..bytes.len() / 2]);
                continue; // dropped: the connection closes mid-body
            }
            match range {
                Some(start) if (start as usize) < bytes.len() => {
                    let cr = format!(
                        "Content-Range: bytes {start}-{}/{}\r\n",
                        bytes.len() - 1,
                        bytes.len()
                    );
                    reply(&mut s, "206 Partial Content", &cr, &bytes[start as usize..]);
                }
                _ => reply(&mut s, "200 OK", "", &bytes),
            }
        }
    });
    format!("http://{addr}")
}
