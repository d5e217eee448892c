//! Embeds labelled corpora with the encoder a heads file names (its fine-tuned layers
//! included) and writes one JSON line per paragraph: `id`, `lang`, `split`, `labels`,
//! `vector`. Used to study classifier variants outside the binary (the figures in the
//! README's classifier table were explored this way, then built into `veille train`).
//!
//! ```text
//! cargo run --example embed_corpus -- HEADS.json OUT.jsonl CORPUS [CORPUS ...]
//! cargo run --example embed_corpus -- --encoder multilingual-e5-small OUT.jsonl CORPUS ...
//! ```
//! With `--encoder NAME` the frozen encoder of `models/NAME` is used with the `passage: `
//! prefix.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use veille::classify::Heads;
use veille::represent::bert::{BertEncoder, EncoderOptions};
use veille::represent::Encoder;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        anyhow::bail!("usage: embed_corpus (HEADS.json | --encoder NAME) OUT.jsonl CORPUS...");
    }
    let models = veille::models::models_dir();
    let (mut encoder, rest) = if args[0] == "--encoder" {
        let opts = EncoderOptions {
            prefix: Some("passage: ".into()),
            ..Default::default()
        };
        (BertEncoder::load(&models.join(&args[1]), opts)?, &args[2..])
    } else {
        let heads_path = Path::new(&args[0]);
        let heads = Heads::load(heads_path)?;
        let dir = veille::models::find_encoder_dir(&models, &heads.encoder)?;
        let opts = EncoderOptions {
            prefix: Some(heads.prefix.clone()),
            ..Default::default()
        };
        let mut enc = BertEncoder::load(&dir, opts)?;
        if let Some(delta) = &heads.encoder_delta {
            let path = heads_path.parent().unwrap_or(Path::new(".")).join(delta);
            veille::classify::finetune::apply_delta(&mut enc, &path)?;
        }
        (enc, &args[1..])
    };
    let out = PathBuf::from(&rest[0]);
    let corpus: Vec<PathBuf> = rest[1..].iter().map(PathBuf::from).collect();
    let paras = veille::corpus::load(&corpus)?;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&out).with_context(|| format!("writing {}", out.display()))?,
    );
    for chunk in paras.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
        for (p, v) in chunk.iter().zip(encoder.embed(&texts)?) {
            let row = serde_json::json!({
                "id": p.id, "lang": p.lang, "split": p.split, "labels": p.labels, "vector": v,
            });
            serde_json::to_writer(&mut f, &row)?;
            f.write_all(b"\n")?;
        }
        eprint!(".");
    }
    f.flush()?;
    eprintln!("\nwrote {} rows to {}", paras.len(), out.display());
    Ok(())
}
