//! Translation throughput on the generated tiny Marian model (see `veille::translate::tiny`):
//! paragraphs per second and generated tokens per second, by batch size and beam width.
//!
//! The model is random and tiny (d_model 16), so absolute numbers measure the generation
//! loop, tokenisation, batching and beam bookkeeping rather than a real model's matrix work:
//! they are for catching regressions, not for predicting opus-mt speed (one libtorch thread). The tiny model
//! never stops before `--max-length`, so every paragraph costs the same number of steps.
//!
//! Run: `cargo bench --bench translate` (Swedish paragraphs from
//! `benches/data/news_paragraphs.jsonl`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use veille::translate::marian::MarianModel;
use veille::translate::TranslateOptions;

const MAX_LENGTH: usize = 24;
const PARAGRAPHS: usize = 8;

fn paragraphs() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/news_paragraphs.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("benches/data/news_paragraphs.jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["lang"] == "sv")
        .filter_map(|v| v["text"].as_str().map(String::from))
        .take(PARAGRAPHS)
        .collect()
}

fn bench(c: &mut Criterion) {
    // One libtorch thread: the tiny model gains nothing from more, and the numbers stay
    // comparable on a busy two-core machine.
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().expect("a temporary folder");
    veille::translate::tiny::generate(dir.path(), "sv", 7).expect("generates the tiny model");
    let texts = paragraphs();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (unit, name) in [(false, "translate_paragraphs"), (true, "translate_tokens")] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for beams in [1usize, 4] {
            for batch in [1usize, 8, 32] {
                let opts = TranslateOptions {
                    beams,
                    max_length: MAX_LENGTH,
                    translate_batch: batch,
                };
                let model = MarianModel::load(dir.path(), &opts).expect("loads the tiny model");
                let tokens = model.translate(&refs).expect("translates").tokens;
                group.throughput(Throughput::Elements(if unit {
                    tokens as u64
                } else {
                    refs.len() as u64
                }));
                group.bench_with_input(
                    BenchmarkId::new(format!("beams{beams}"), format!("batch{batch}")),
                    &refs,
                    |b, r| b.iter(|| model.translate(r).expect("translates")),
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
