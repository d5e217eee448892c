//! Command dispatch: each subcommand wires ingest, stages and sinks together.

use crate::classify::Heads;
use crate::cli::{Cli, Command, InputArgs, ModelArgs, OutputArgs, EXIT_OK, EXIT_RECORD_ERRORS};
use crate::ingest::{self, IngestOptions};
use crate::language::LanguageIdentifier;
use crate::pipeline::detect_document_with;
use crate::pipeline::{Pipeline, Strategy};
use crate::represent::bert::{BertEncoder, EncoderOptions};
use crate::represent::onnx::{self, OrtEncoder};
use crate::represent::{Encoder, Precision};
use crate::run::manifest::{describe_inputs, Models};
use crate::run::output::{BatchOutput, OutputOptions, Provenance};
use crate::run::progress::Progress;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::path::PathBuf;

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub mod classify;
pub mod eval;
pub mod models;
pub mod stream;
pub mod train;

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Classify {
            input,
            output,
            model,
        } => classify::run(&input, &output, &model),
        Command::Detect {
            input,
            output,
            report,
        } => detect(&input, &output, report),
        Command::Stream(args) => stream::run(&args),
        Command::Compare(args) => crate::compare::run(&args.options()).map(|()| EXIT_OK),
        Command::Models(cmd) => models::run(&cmd),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Stats { corpus } => train::stats(&corpus),
    }
}

/// The heads file for a strategy: `--heads`, else `models/heads/<strategy>.json`.
pub fn heads_path(model: &ModelArgs) -> PathBuf {
    model.heads.clone().unwrap_or_else(|| {
        model
            .models_dir()
            .join(crate::models::HEADS_DIR)
            .join(format!("{}.json", model.strategy.as_str()))
    })
}

/// Loads the encoder named by a heads file (with its fine-tuned layers, if any).
pub fn load_encoder(model: &ModelArgs, heads: &Heads) -> Result<BertEncoder> {
    let dir = crate::models::find_encoder_dir(&model.models_dir(), &heads.encoder)?;
    let opts = EncoderOptions {
        threads: model.threads,
        batch_size: model.batch_size,
        prefix: Some(heads.prefix.clone()),
        device: model.device,
        ..Default::default()
    };
    let mut encoder = BertEncoder::load(&dir, opts)?;
    if let Some(delta) = &heads.encoder_delta {
        let base = heads_path(model);
        let path = base.parent().unwrap_or(Path::new(".")).join(delta);
        crate::classify::finetune::apply_delta(&mut encoder, &path)?;
    }
    Ok(encoder)
}

/// The encoder for classifying with `heads`, at the precision `--precision` asks for
/// (see [`crate::represent::Precision`]): the int8 ONNX Runtime graph or f32 libtorch.
pub fn load_inference_encoder(
    model: &ModelArgs,
    heads: &Heads,
    heads_file: &Path,
) -> Result<Box<dyn Encoder>> {
    use crate::represent::bert::DeviceKind;
    let precision = model.precision;
    if model.device == DeviceKind::Cuda {
        if precision == Precision::Int8 {
            anyhow::bail!(
                "--precision int8 runs on the CPU (ONNX Runtime); with --device cuda use f32"
            );
        }
        return Ok(Box::new(load_encoder(model, heads)?));
    }
    let int8 = match precision {
        Precision::F32 => None,
        Precision::Int8 => Some(load_int8_encoder(model, heads, heads_file)?),
        Precision::Auto if !crate::represent::cpu_supports_int8() => {
            tracing::info!("this CPU lacks the int8 instructions veille uses; encoder in f32");
            None
        }
        Precision::Auto => {
            match load_int8_encoder(model, heads, heads_file) {
                Ok(e) => Some(e),
                Err(Int8Unavailable::NotBuilt(why)) => {
                    tracing::info!("encoder in f32: {why}");
                    None
                }
                Err(Int8Unavailable::Broken(e)) => {
                    eprintln!("veille: warning: the int8 encoder cannot be used, running f32 instead: {e:#}");
                    None
                }
            }
        }
    };
    Ok(match int8 {
        Some(e) => Box::new(e),
        None => Box::new(load_encoder(model, heads)?),
    })
}

/// Why the int8 encoder was not loaded: not built for these heads (normal for heads
/// files set-up does not build graphs for), or built but unusable (stale, no runtime).
#[derive(Debug)]
pub enum Int8Unavailable {
    NotBuilt(String),
    Broken(anyhow::Error),
}

impl std::fmt::Display for Int8Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Int8Unavailable::NotBuilt(why) => write!(f, "{why}"),
            Int8Unavailable::Broken(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for Int8Unavailable {}

fn load_int8_encoder(
    model: &ModelArgs,
    heads: &Heads,
    heads_file: &Path,
) -> std::result::Result<OrtEncoder, Int8Unavailable> {
    let models_dir = model.models_dir();
    let graph = onnx::graph_path(&models_dir, heads_file);
    if !graph.is_file() {
        return Err(Int8Unavailable::NotBuilt(format!(
            "no int8 graph {} for {} (scripts/setup.sh builds it: .venv/bin/python scripts/build_onnx.py --heads {})",
            graph.display(),
            heads_file.display(),
            heads_file.display()
        )));
    }
    let broken = Int8Unavailable::Broken;
    let delta = heads
        .encoder_delta
        .as_ref()
        .map(|d| heads_file.parent().unwrap_or(Path::new(".")).join(d));
    let info = onnx::GraphInfo::load(&graph).map_err(broken)?;
    info.check(&graph, &heads.encoder, delta.as_deref())
        .map_err(broken)?;
    let library = onnx::runtime_library(&models_dir).ok_or_else(|| {
        broken(anyhow::anyhow!(
            "no ONNX Runtime library: scripts/setup.sh links .onnxruntime/libonnxruntime.so from the onnxruntime wheel, or set {}",
            onnx::ORT_LIB_ENV
        ))
    })?;
    let dir = crate::models::find_encoder_dir(&models_dir, &heads.encoder).map_err(broken)?;
    let opts = onnx::OrtOptions {
        threads: model.threads,
        prefix: heads.prefix.clone(),
        library,
    };
    OrtEncoder::load(&graph, &dir, opts).map_err(broken)
}

/// Everything `classify` and `stream` need, loaded before any input is read.
pub fn load_pipeline(model: &ModelArgs) -> Result<Pipeline> {
    // The language detector's models load on another core while the encoder loads.
    let langid = std::thread::spawn(|| {
        let langid = LanguageIdentifier::new();
        langid.warm_up();
        langid
    });
    let path = heads_path(model);
    let heads = Heads::load(&path)?;
    let encoder = load_inference_encoder(model, &heads, &path)?;
    let translator = match model.strategy {
        Strategy::Translate => {
            crate::translate::installed_translator(&model.models_dir(), &model.translate.options())?
        }
        Strategy::Embed => None,
    };
    let langid = langid
        .join()
        .map_err(|_| anyhow::anyhow!("loading the language detector failed"))?;
    let mut pipeline = Pipeline::new(model.strategy, encoder, heads, translator, langid)?;
    pipeline.set_options(crate::pipeline::PipelineOptions {
        evidence: model.evidence,
    });
    Ok(pipeline)
}

pub fn ingest_options(input: &InputArgs) -> IngestOptions {
    IngestOptions {
        format: input.input,
        max_chars: input.max_chars,
    }
}

/// The paths to read: none means stdin.
pub fn input_paths(input: &InputArgs) -> Vec<PathBuf> {
    if input.paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        ingest::expand_paths(&input.paths)
    }
}

/// The output named by the flags: stdout, or a file with its manifest (see [`crate::run`]).
pub fn batch_output(
    input: &InputArgs,
    output: &OutputArgs,
    paths: &[PathBuf],
    models: Models,
) -> Result<BatchOutput> {
    let opts = OutputOptions {
        path: output.output.clone(),
        format: output.format,
        csv_raw: output.csv_raw,
        resume: output.resume,
        force: output.force,
        shard: input.shard.map(|s| s.to_string()),
    };
    let provenance = Provenance {
        command_line: std::env::args().collect(),
        // Hashing every input is only worth it when there is a manifest to put it in.
        inputs: if output.output.is_some() {
            describe_inputs(paths)?
        } else {
            Vec::new()
        },
        models,
    };
    BatchOutput::open(&opts, provenance)
}

/// SHA-256 of the heads file and of the fine-tuned encoder layers it names.
pub fn heads_hashes(model: &ModelArgs) -> Result<Models> {
    let path = heads_path(model);
    let hash = |p: &Path| {
        crate::run::manifest::hash_file(p)
            .map(|(_, h)| h)
            .with_context(|| format!("cannot read {}", p.display()))
    };
    let heads = Heads::load(&path)?;
    let delta = match &heads.encoder_delta {
        Some(d) => Some(hash(&path.parent().unwrap_or(Path::new(".")).join(d))?),
        None => None,
    };
    Ok(Models {
        heads_sha256: Some(hash(&path)?),
        encoder_delta_sha256: delta,
        ..Default::default()
    })
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn detect(input: &InputArgs, output: &OutputArgs, report: bool) -> Result<i32> {
    let opts = ingest_options(input);
    let langid = LanguageIdentifier::new();
    let paths = input_paths(input);
    let models = Models {
        strategy: "detect".into(),
        model_id: crate::language::DETECTOR_ID.into(),
        ..Default::default()
    };
    let mut out = batch_output(input, output, &paths, models)?;
    let bar = Progress::new(None);
    let mut accuracy = crate::language::report::AccuracyReport::default();
    for doc in crate::run::documents(&paths, &opts, input.shard) {
        let (records, _) = detect_document_with(
            &langid,
            &doc,
            "detect",
            crate::language::DETECTOR_ID,
            input.lang,
            Default::default(),
        );
        for r in records {
            if report {
                accuracy.add(&r);
            }
            out.write(&r)?;
        }
        bar.inc(doc.inputs.len());
    }
    let (written, written_errors, resumed) = (out.written(), out.written_errors(), out.resumed());
    let counts = out.finish()?;
    // The accuracy report is the stderr output of `--report`: no summary line with it.
    if output.output.is_some() && !report {
        bar.finish(written, written_errors, resumed);
    }
    if report {
        eprint!("{}", accuracy.render());
    }
    Ok(if counts.errors > 0 {
        EXIT_RECORD_ERRORS
    } else {
        EXIT_OK
    })
}
