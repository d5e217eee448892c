//! The reader task: stdin split into numbered lines, each parsed into an [`Input`] with
//! the ingest parsers (`stdin#<line>` ids, line numbers in error messages).
//!
//! A line is never held beyond a byte limit derived from `--max-chars`: the rest of an
//! over-long line is skipped (only counted) and the line becomes an error record, so a
//! multi-megabyte line costs no more memory than a normal one.

use super::{StreamInput, STDIN_NAME};
use crate::ingest::{parse_jsonl_line, parse_text_line, IngestOptions, Input};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

/// Bytes kept of one line: 6 bytes per character covers `\uXXXX` escapes in JSON, the
/// 64 KiB leave room for the other fields of a record.
pub fn max_line_bytes(max_chars: usize) -> usize {
    max_chars.saturating_mul(6).saturating_add(64 * 1024)
}

/// One line of input, without its `\n` (and `\r`).
#[derive(Debug, PartialEq)]
pub enum Line {
    Full {
        no: usize,
        bytes: Vec<u8>,
    },
    /// Longer than the limit; `len` is its full length in bytes.
    TooLong {
        no: usize,
        len: usize,
    },
}

pub struct LineReader<R> {
    inner: BufReader<R>,
    max_bytes: usize,
    line_no: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max_bytes: usize) -> Self {
        LineReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            max_bytes,
            line_no: 0,
        }
    }

    /// The next line, or `None` at EOF. A last line without `\n` still counts.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut len = 0usize;
        let mut any = false;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            len += chunk.len();
            if len <= self.max_bytes {
                bytes.extend_from_slice(chunk);
            } else if !bytes.is_empty() {
                bytes = Vec::new(); // over the limit: stop keeping it
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        self.line_no += 1;
        let no = self.line_no;
        if len > self.max_bytes {
            return Ok(Some(Line::TooLong { no, len }));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Ok(Some(Line::Full { no, bytes }))
    }
}

/// The input for one line; `None` for a blank line between JSON records (not a record,
/// as in `classify`). In text mode an empty line is an error record.
pub fn parse(
    line: Line,
    input: StreamInput,
    opts: &IngestOptions,
    max_bytes: usize,
) -> Option<Input> {
    match line {
        Line::TooLong { no, len } => Some(Input::failed(
            format!("{STDIN_NAME}#{no}"),
            STDIN_NAME.to_string(),
            no,
            format!(
                "line too long in {STDIN_NAME} at line {no}: {len} bytes (lines over {max_bytes} bytes are skipped; \
                 paragraph limit {} characters, see --max-chars)",
                opts.max_chars
            ),
        )),
        Line::Full { no, bytes } => match input {
            StreamInput::Jsonl if bytes.iter().all(u8::is_ascii_whitespace) => None,
            StreamInput::Jsonl => Some(parse_jsonl_line(STDIN_NAME, no, &bytes, opts)),
            StreamInput::Text => Some(parse_text_line(STDIN_NAME, no, &bytes, opts)),
        },
    }
}

/// Reads until EOF, a read error, a stop request or the batcher going away.
pub async fn run<R: AsyncRead + Unpin>(
    mut reader: LineReader<R>,
    input: StreamInput,
    opts: IngestOptions,
    tx: mpsc::Sender<Input>,
    mut stop: watch::Receiver<bool>,
) {
    let max_bytes = reader.max_bytes;
    loop {
        if *stop.borrow() {
            break;
        }
        let line = tokio::select! {
            biased;
            _ = stop.changed() => break,
            line = reader.next_line() => line,
        };
        let parsed = match line {
            Ok(None) => break,
            Ok(Some(line)) => match parse(line, input, &opts, max_bytes) {
                Some(i) => i,
                None => continue,
            },
            Err(e) => {
                let no = reader.line_no + 1;
                let error = format!("cannot read {STDIN_NAME} at line {no}: {e}");
                tracing::error!("{error}");
                let failed = Input::failed(
                    format!("{STDIN_NAME}#{no}"),
                    STDIN_NAME.to_string(),
                    no,
                    error,
                );
                let _ = tx.send(failed).await;
                break;
            }
        };
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            sent = tx.send(parsed) => if sent.is_err() { break },
        }
    }
    tracing::debug!("reader done after {} lines", reader.line_no);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(data: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(data, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            out.push(l);
        }
        out
    }

    fn full(no: usize, s: &[u8]) -> Line {
        Line::Full {
            no,
            bytes: s.to_vec(),
        }
    }

    #[tokio::test]
    async fn splits_numbers_and_strips_cr() {
        assert_eq!(
            lines(b"a\r\n\nlast", 100).await,
            vec![full(1, b"a"), full(2, b""), full(3, b"last")]
        );
        assert_eq!(lines(b"", 100).await, vec![]);
        assert_eq!(lines(b"x\n", 100).await, vec![full(1, b"x")]);
    }

    #[tokio::test]
    async fn over_long_lines_are_counted_not_kept() {
        let mut data = vec![b'y'; 300_000];
        data.extend_from_slice(b"\nok\n");
        // A small internal buffer would be the interesting case; BufReader's 64 KiB is
        // smaller than the line, so the line spans several fills.
        assert_eq!(
            lines(&data, 1000).await,
            vec![
                Line::TooLong {
                    no: 1,
                    len: 300_000
                },
                full(2, b"ok")
            ]
        );
    }

    #[test]
    fn parse_gives_errors_with_line_numbers() {
        let opts = IngestOptions {
            max_chars: 10,
            ..Default::default()
        };
        assert_eq!(parse(full(1, b"  "), StreamInput::Jsonl, &opts, 99), None);
        let e = parse(full(2, b"{bad"), StreamInput::Jsonl, &opts, 99).unwrap();
        assert_eq!(e.id, "stdin#2");
        assert!(e.error.unwrap().contains("invalid JSON in stdin at line 2"));
        let t = parse(full(3, b""), StreamInput::Text, &opts, 99).unwrap();
        assert!(t.error.unwrap().contains("empty text in stdin at line 3"));
        let long = parse(
            Line::TooLong { no: 4, len: 5000 },
            StreamInput::Text,
            &opts,
            99,
        )
        .unwrap();
        assert_eq!((long.id.as_str(), long.para), ("stdin#4", 4));
        assert!(long
            .error
            .unwrap()
            .contains("line too long in stdin at line 4: 5000 bytes"));
        let ok = parse(
            full(5, b"{\"id\":\"x\",\"text\":\"Hej\"}"),
            StreamInput::Jsonl,
            &opts,
            99,
        )
        .unwrap();
        assert_eq!(
            (ok.id.as_str(), ok.text.as_str(), ok.error),
            ("x", "Hej", None)
        );
    }
}
