//! The labelled corpus keeps the mix issue 4 asks for, its splits do not leak, its
//! guidelines stay in step with the shared taxonomy, and the language detector meets its
//! targets on the language-ID test set.

use std::path::Path;
use std::process::Command;

fn veille() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veille"))
}

#[test]
fn corpus_mix_and_splits() {
    let out = veille()
        .args(["stats", "corpora/labelled"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("mix: ok"), "{text}");
    assert!(text.contains("no event crosses splits"), "{text}");

    // The same checks through the library, with the numbers.
    let paras = veille::corpus::load(&["corpora/labelled".into()]).unwrap();
    let s = veille::corpus::stats(&paras);
    assert!(s.mix_problems().is_empty(), "{:?}", s.mix_problems());
    assert!(s.total >= 1800);
    for lang in ["sv", "en", "fr"] {
        assert!(s.by_lang[lang] >= 600, "{lang}: {}", s.by_lang[lang]);
    }
    // Hard negatives and headline-length lines are present.
    assert!(s.short >= 100, "only {} short paragraphs", s.short);
    assert!(s.genres.len() >= 8, "{:?}", s.genres);
}

#[test]
fn guidelines_match_the_shared_taxonomy() {
    let shared = Path::new("../shared/TAXONOMY.md");
    if !shared.exists() {
        eprintln!("skipped: ../shared/TAXONOMY.md is not present beside the checkout");
        return;
    }
    let taxonomy = std::fs::read_to_string(shared).unwrap();
    let guidelines = std::fs::read_to_string("corpora/GUIDELINES.md").unwrap();
    assert!(
        guidelines.contains(taxonomy.trim()),
        "corpora/GUIDELINES.md no longer contains ../shared/TAXONOMY.md verbatim: copy it again"
    );
}

#[test]
fn language_detection_meets_its_targets() {
    let out = veille()
        .args([
            "detect",
            "corpora/langid",
            "corpora/labelled",
            "--report",
            "-o",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stderr).unwrap();
    eprintln!("{report}");
    let all = report
        .lines()
        .find(|l| l.starts_with("all "))
        .expect("an 'all' row");
    let cells: Vec<f64> = all
        .split_whitespace()
        .skip(1)
        .map(|c| c.trim_end_matches('%').parse().unwrap_or(f64::NAN))
        .collect();
    // Buckets: <20, 20-59, 60-99, 100+.
    assert!(
        cells[1] >= 95.0,
        "20-59 characters: {}% < 95%\n{report}",
        cells[1]
    );
    assert!(
        cells[3] >= 99.0,
        "100+ characters: {}% < 99%\n{report}",
        cells[3]
    );
    let total: usize = report
        .lines()
        .find_map(|l| l.strip_prefix("overall "))
        .and_then(|r| r.split('/').nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(total >= 300, "the test set has {total} items");
    // Danish and Norwegian are never taken for Swedish.
    assert!(
        !report.contains("gold da -> sv") && !report.contains("gold nb -> sv"),
        "{report}"
    );
}
