//! Progress of a batch run on stderr: a bar with rate and ETA when stderr is a terminal
//! (over the paragraphs counted up front, or a counter when the input is stdin), and one
//! summary line at the end either way, so logs of unattended runs say what happened.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

/// Whether a bar would be shown (then counting the input up front is worth it).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

impl Progress {
    /// `total`: paragraphs to do, when known.
    pub fn new(total: Option<u64>) -> Progress {
        let bar = if !interactive() {
            ProgressBar::hidden()
        } else if let Some(total) = total {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} paragraphs  {per_sec}  eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos} paragraphs  {per_sec}")
                    .expect("valid template"),
            );
            bar
        };
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub fn inc(&self, paragraphs: usize) {
        self.bar.inc(paragraphs as u64);
    }

    /// Clears the bar and prints the summary line.
    pub fn finish(&self, written: usize, errors: usize, resumed: usize) {
        self.bar.finish_and_clear();
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!("{}", summary(written, errors, resumed, seconds));
    }
}

/// `veille: 2000 records (3 errors) in 41.2 s, 48.5 paragraphs/s`.
pub fn summary(written: usize, errors: usize, resumed: usize, seconds: f64) -> String {
    let kept = if resumed > 0 {
        format!(", after {resumed} already in the file")
    } else {
        String::new()
    };
    format!(
        "veille: {written} records ({errors} errors) in {seconds:.1} s, {:.1} paragraphs/s{kept}",
        written as f64 / seconds.max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_gives_counts_and_rate() {
        assert_eq!(
            super::summary(100, 2, 0, 4.0),
            "veille: 100 records (2 errors) in 4.0 s, 25.0 paragraphs/s"
        );
        assert!(super::summary(10, 0, 90, 1.0).ends_with("after 90 already in the file"));
    }
}
