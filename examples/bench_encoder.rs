//! Benchmark helper for `scripts/bench-encoder.sh`: paragraphs per second and peak RSS of
//! `BertEncoder` on a JSONL file of paragraphs, one batch size per process (so the peak
//! memory belongs to that batch size). Also converts the e5 model and writes the texts in
//! the reference driver's binary format, so the script needs no Python.
//!
//! ```text
//! bench_encoder run MODEL_DIR TEXTS.jsonl BATCH THREADS   -> one JSON line (best of $BENCH_REPS)
//! bench_encoder convert E5S1.bin OUT_DIR
//! bench_encoder texts-bin TEXTS.jsonl OUT.bin
//! bench_encoder prefix-eval MODEL_DIR CORPUS_DIR THREADS [MAX_TRAIN]
//! bench_encoder profile MODEL_DIR TEXTS.jsonl THREADS
//! ```
//!
//! `prefix-eval` compares the e5 prefixes `"passage: "` and `"query: "` for
//! classification: it embeds the `train` and `dev` paragraphs of `CORPUS_DIR/*.jsonl`
//! (fields `text`, `split`, `labels`) with each prefix and scores a cosine k-NN
//! (k = 10, similarity-weighted vote >= 0.5 per label) on dev by micro-F1.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use veille::represent::bert::{BertEncoder, EncoderOptions};
use veille::represent::Encoder;

fn read_texts(path: &Path) -> Result<Vec<String>> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v["text"].as_str().context("missing \"text\"")?.to_string())
        })
        .collect()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("convert") if args.len() == 3 => {
            let r = veille::represent::e5::convert_e5(Path::new(&args[1]), Path::new(&args[2]))?;
            println!("wrote {} files", r.files.len());
        }
        Some("texts-bin") if args.len() == 3 => {
            let texts = read_texts(Path::new(&args[1]))?;
            let mut f = std::fs::File::create(&args[2])?;
            f.write_all(&(texts.len() as u32).to_le_bytes())?;
            for t in &texts {
                f.write_all(&(t.len() as u32).to_le_bytes())?;
                f.write_all(t.as_bytes())?;
            }
        }
        Some("run") if args.len() == 5 => {
            let texts = read_texts(Path::new(&args[2]))?;
            let batch: usize = args[3].parse()?;
            let threads: usize = args[4].parse()?;
            // BENCH_PARALLEL_BATCHES=0 measures plain intra-op threading.
            let parallel = std::env::var("BENCH_PARALLEL_BATCHES").map_or(true, |v| v != "0");
            let opts = EncoderOptions {
                threads: Some(threads),
                batch_size: batch,
                parallel_batches: parallel,
                ..Default::default()
            };
            let mut enc = BertEncoder::load(Path::new(&args[1]), opts)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            enc.embed(&refs[..refs.len().min(4)])?; // warm-up
            let reps: usize = std::env::var("BENCH_REPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let mut s = f64::MAX; // best of `reps` passes (the machine is shared)
            for _ in 0..reps.max(1) {
                let t0 = Instant::now();
                for chunk in refs.chunks(batch) {
                    enc.embed(chunk)?;
                }
                s = s.min(t0.elapsed().as_secs_f64());
            }
            println!(
                "{{\"engine\":\"veille\",\"texts\":{},\"batch\":{batch},\"seconds\":{s:.3},\"per_s\":{:.2},\"max_rss_kb\":{},\"tch_threads\":{},\"parallel_batches\":{parallel}}}",
                refs.len(),
                refs.len() as f64 / s,
                peak_rss_kb(),
                tch::get_num_threads()
            );
        }
        Some("profile") if args.len() == 4 => {
            // Splits the time between tokenization and the forward pass.
            let texts = read_texts(Path::new(&args[2]))?;
            let opts = EncoderOptions {
                threads: Some(args[3].parse()?),
                ..Default::default()
            };
            let enc = BertEncoder::load(Path::new(&args[1]), opts)?;
            let t0 = Instant::now();
            let mut ntok = 0;
            for t in &texts {
                ntok += enc.content_ids(t)?.len() + 2;
            }
            println!(
                "tokenize: {:.3}s for {} texts, {ntok} tokens",
                t0.elapsed().as_secs_f64(),
                texts.len()
            );
            let a = tch::Tensor::randn([2560, 384], (tch::Kind::Float, tch::Device::Cpu));
            let w = tch::Tensor::randn([1536, 384], (tch::Kind::Float, tch::Device::Cpu));
            let _ = a.matmul(&w.tr());
            let t0 = Instant::now();
            for _ in 0..10 {
                let _ = a.matmul(&w.tr());
            }
            let s = t0.elapsed().as_secs_f64() / 10.0;
            println!(
                "matmul 2560x384x1536: {:.1} GFLOP/s",
                2.0 * 2560.0 * 384.0 * 1536.0 / s / 1e9
            );
            for (b, l) in [(1i64, 80i64), (8, 80), (32, 80), (32, 128)] {
                let ids = tch::Tensor::ones([b, l], (tch::Kind::Int64, tch::Device::Cpu)) * 1000;
                let mask = tch::Tensor::ones([b, l], (tch::Kind::Int64, tch::Device::Cpu));
                let _ = tch::no_grad(|| enc.forward_tokens(&ids, &mask, false))?;
                let t0 = Instant::now();
                let reps = 3;
                for _ in 0..reps {
                    let _ = tch::no_grad(|| enc.forward_tokens(&ids, &mask, false))?;
                }
                let s = t0.elapsed().as_secs_f64() / reps as f64;
                println!("forward [{b}x{l}]: {s:.3}s, {:.1} seq/s", b as f64 / s);
            }
        }
        Some("prefix-eval") if args.len() >= 4 => {
            let max_train = args
                .get(4)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(usize::MAX);
            prefix_eval(&args[1], &args[2], args[3].parse()?, max_train)?
        }
        _ => bail!("usage: see the doc comment of examples/bench_encoder.rs"),
    }
    Ok(())
}

struct Para {
    text: String,
    dev: bool,
    labels: Vec<String>,
}

fn prefix_eval(model: &str, corpus: &str, threads: usize, max_train: usize) -> Result<()> {
    let mut paras = Vec::new();
    for entry in std::fs::read_dir(corpus).with_context(|| format!("reading {corpus}"))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let split = v["split"].as_str().unwrap_or("");
            if split != "train" && split != "dev" {
                continue;
            }
            let labels = v["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if split == "train" && paras.iter().filter(|p: &&Para| !p.dev).count() >= max_train {
                continue;
            }
            paras.push(Para {
                text: v["text"].as_str().unwrap_or("").to_string(),
                dev: split == "dev",
                labels,
            });
        }
    }
    let mut all_labels: Vec<String> = paras.iter().flat_map(|p| p.labels.clone()).collect();
    all_labels.sort();
    all_labels.dedup();
    let texts: Vec<&str> = paras.iter().map(|p| p.text.as_str()).collect();
    for prefix in ["passage: ", "query: "] {
        let opts = EncoderOptions {
            threads: Some(threads),
            prefix: Some(prefix.into()),
            ..Default::default()
        };
        let mut enc = BertEncoder::load(Path::new(model), opts)?;
        let t0 = Instant::now();
        let vecs = enc.embed(&texts)?;
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        for (i, p) in paras.iter().enumerate().filter(|(_, p)| p.dev) {
            let mut sims: Vec<(f32, usize)> = paras
                .iter()
                .enumerate()
                .filter(|(_, q)| !q.dev)
                .map(|(j, _)| (vecs[i].iter().zip(&vecs[j]).map(|(a, b)| a * b).sum(), j))
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top = &sims[..sims.len().min(10)];
            let total: f32 = top.iter().map(|(s, _)| s.max(0.0)).sum();
            for l in &all_labels {
                let score: f32 = top
                    .iter()
                    .filter(|(_, j)| paras[*j].labels.contains(l))
                    .map(|(s, _)| s.max(0.0))
                    .sum();
                let pred = total > 0.0 && score / total >= 0.5;
                match (pred, p.labels.contains(l)) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fneg += 1,
                    _ => {}
                }
            }
        }
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + fneg).max(1) as f64;
        println!(
            "{{\"prefix\":{prefix:?},\"train\":{},\"dev\":{},\"knn10_micro_f1\":{f1:.4},\"seconds\":{:.1}}}",
            paras.iter().filter(|p| !p.dev).count(),
            paras.iter().filter(|p| p.dev).count(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
