//! `OrtEncoder`: the e5 encoder as an int8 ONNX Runtime graph, for fast CPU inference.
//!
//! The graph is built at set-up by `scripts/build_onnx.py` from the converted base
//! weights with the fine-tuned layer delta of a heads file merged in, and quantised
//! with ONNX Runtime's dynamic quantiser. It lives at `<models>/onnx/<heads stem>.int8.onnx`
//! beside a sidecar `.int8.json` that records the encoder id and the sha256 of the delta
//! it was built from; [`GraphInfo::check`] refuses a graph made from another delta, so
//! a retrained delta is never paired with a stale graph.
//!
//! Tokenisation is the project's own e5 tokenizer (the graph takes ids and a mask and
//! returns one mean-pooled vector per row); long texts are windowed exactly as in
//! [`super::bert::BertEncoder`] (see [`super::windows`]).
//!
//! ONNX Runtime itself is loaded at run time (`ort`'s `load-dynamic`) from the
//! `libonnxruntime.so` that the PyPI `onnxruntime` wheel ships; set-up links it as
//! `.onnxruntime/libonnxruntime.so` (or set `VEILLE_ORT_LIB`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::e5::convert::VEILLE_FILE;
use super::e5::E5Tokenizer;
use super::windows::{combine, make_windows, pad_rows, plan_batches};
use super::Encoder;

/// Graph layout version; must equal `GRAPH_FORMAT` in `scripts/build_onnx.py`.
pub const GRAPH_FORMAT: u32 = 1;
/// Cap on `rows * len * len` per forward pass: the attention scores take
/// `heads * 4` bytes per cell (48 MB at the cap, e.g. 4 windows of 512 tokens).
const MAX_ATTENTION_CELLS: usize = 1 << 20;
/// Environment variable naming the ONNX Runtime shared library.
pub const ORT_LIB_ENV: &str = "VEILLE_ORT_LIB";

/// The sidecar written next to a graph by `scripts/build_onnx.py`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GraphInfo {
    pub format: u32,
    pub encoder: String,
    pub precision: String,
    pub delta: Option<String>,
    pub delta_sha256: Option<String>,
    #[serde(default)]
    pub onnxruntime: String,
}

impl GraphInfo {
    /// Reads `<graph>.json` (the sidecar of `<graph>.onnx`).
    pub fn load(graph: &Path) -> Result<GraphInfo> {
        let side = graph.with_extension("json");
        let text = std::fs::read_to_string(&side)
            .with_context(|| format!("reading the graph's sidecar {}", side.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", side.display()))
    }

    /// Fails unless the graph was built for `encoder` with exactly the delta at `delta`.
    pub fn check(&self, graph: &Path, encoder: &str, delta: Option<&Path>) -> Result<()> {
        let rebuild = "run scripts/setup.sh (or .venv/bin/python scripts/build_onnx.py --heads HEADS) to rebuild it, or use --precision f32";
        if self.format != GRAPH_FORMAT {
            bail!(
                "{} has graph format {} (this veille reads {GRAPH_FORMAT}); {rebuild}",
                graph.display(),
                self.format
            );
        }
        if self.encoder != encoder {
            bail!(
                "{} was built for encoder {:?}, the heads need {encoder:?}; {rebuild}",
                graph.display(),
                self.encoder
            );
        }
        let actual = delta.map(sha256_file).transpose()?;
        if actual != self.delta_sha256 {
            bail!(
                "{} is stale: built from fine-tuned layers with sha256 {}, the heads' are {}; {rebuild}",
                graph.display(),
                self.delta_sha256.as_deref().unwrap_or("(none)"),
                actual.as_deref().unwrap_or("(none)")
            );
        }
        Ok(())
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(bytes)))
}

/// Where the int8 graph for a heads file lives: `<models>/onnx/<stem>.int8.onnx`.
pub fn graph_path(models_dir: &Path, heads: &Path) -> PathBuf {
    let stem = heads
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "heads".into());
    models_dir.join("onnx").join(format!("{stem}.int8.onnx"))
}

/// The ONNX Runtime library: `$VEILLE_ORT_LIB`, else `.onnxruntime/libonnxruntime.so`
/// in the folder above the models folder (the project), if present.
pub fn runtime_library(models_dir: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ORT_LIB_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let project = std::fs::canonicalize(models_dir)
        .ok()?
        .parent()?
        .to_path_buf();
    let lib = project.join(".onnxruntime").join("libonnxruntime.so");
    lib.exists().then_some(lib)
}

/// Loads the runtime library once per process (ONNX Runtime allows one environment).
fn environment(library: &Path) -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    ENV.get_or_init(|| {
        ort::init_from(library)
            .map_err(|e| format!("loading ONNX Runtime from {}: {e}", library.display()))?
            .with_name("veille")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("starting ONNX Runtime: {e}"))
    })
    .as_ref()
    .map_err(|e| anyhow!("{e}"))
}

/// Options for [`OrtEncoder::load`].
#[derive(Debug, Clone)]
pub struct OrtOptions {
    /// Intra-op threads. `None`: all cores.
    pub threads: Option<usize>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Cap on `batch * longest window` tokens per forward pass.
    pub max_batch_tokens: usize,
    /// The prefix put before every text (the heads file's).
    pub prefix: String,
    /// The ONNX Runtime shared library.
    pub library: PathBuf,
}

#[derive(serde::Deserialize)]
struct SpecialIds {
    id: String,
    tokenizer: String,
    bos_id: u32,
    eos_id: u32,
    pad_id: u32,
}

/// The int8 e5 encoder on ONNX Runtime (see the module docs).
pub struct OrtEncoder {
    session: Session,
    tokenizer: E5Tokenizer,
    id: String,
    runtime: String,
    dim: usize,
    prefix: String,
    window: usize,
    bos: i64,
    eos: i64,
    pad: i64,
    batch_size: usize,
    max_batch_tokens: usize,
}

impl OrtEncoder {
    /// Loads `graph` (already checked with [`GraphInfo::check`]) with the tokenizer of
    /// the converted model folder `model_dir`.
    pub fn load(graph: &Path, model_dir: &Path, opts: OrtOptions) -> Result<Self> {
        let info = GraphInfo::load(graph)?;
        let meta_path = model_dir.join(VEILLE_FILE);
        let meta: SpecialIds = serde_json::from_str(
            &std::fs::read_to_string(&meta_path)
                .with_context(|| format!("reading {}", meta_path.display()))?,
        )
        .with_context(|| format!("parsing {}", meta_path.display()))?;
        if meta.tokenizer != "e5" {
            bail!(
                "{}: the ONNX encoder serves e5 folders only (tokenizer {:?})",
                meta_path.display(),
                meta.tokenizer
            );
        }
        let cfg_path = model_dir.join("config.json");
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("reading {}", cfg_path.display()))?,
        )?;
        let dim = cfg["hidden_size"].as_u64().unwrap_or(0) as usize;
        let max_len = cfg["max_position_embeddings"].as_u64().unwrap_or(0) as usize;
        if dim == 0 || max_len < 3 {
            bail!(
                "{}: no usable hidden_size / max_position_embeddings",
                cfg_path.display()
            );
        }
        let threads = opts.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let env = environment(&opts.library)?;
        let fail = |e: &dyn std::fmt::Display| anyhow!("loading {}: {e}", graph.display());
        let mut builder = Session::builder(env)
            .map_err(|e| fail(&e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail(&e))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(&e))?
            .with_inter_threads(1)
            .map_err(|e| fail(&e))?
            // Idle workers sleep instead of spinning: on a small machine the spinning
            // thread takes the core from language detection and from other processes.
            .with_intra_op_spinning(false)
            .map_err(|e| fail(&e))?;
        let session = builder.commit_from_file(graph).map_err(|e| fail(&e))?;
        Ok(OrtEncoder {
            session,
            tokenizer: E5Tokenizer::load(model_dir)?,
            id: meta.id,
            runtime: format!("{}:onnxruntime-{}", info.precision, info.onnxruntime),
            dim,
            prefix: opts.prefix,
            window: max_len - 2,
            bos: meta.bos_id as i64,
            eos: meta.eos_id as i64,
            pad: meta.pad_id as i64,
            batch_size: opts.batch_size.max(1),
            max_batch_tokens: opts.max_batch_tokens.max(max_len),
        })
    }

    /// Runs one padded batch; one pooled (not normalised) vector per row.
    fn run(
        &mut self,
        ids: Vec<i64>,
        mask: Vec<i64>,
        rows: usize,
        len: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let shape = [rows, len];
        let ids = Tensor::from_array((shape, ids)).map_err(|e| anyhow!("{e}"))?;
        let mask = Tensor::from_array((shape, mask)).map_err(|e| anyhow!("{e}"))?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| anyhow!("ONNX Runtime: {e}"))?;
        let (shape, data) = outputs
            .get("pooled")
            .ok_or_else(|| anyhow!("the graph has no output `pooled`"))?
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow!("ONNX Runtime output: {e}"))?;
        if shape.len() != 2 || shape[0] as usize != rows || shape[1] as usize != self.dim {
            bail!(
                "the graph returned shape {shape:?}, expected [{rows}, {}]",
                self.dim
            );
        }
        Ok(data.chunks(self.dim).map(<[f32]>::to_vec).collect())
    }
}

impl Encoder for OrtEncoder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn runtime(&self) -> Option<&str> {
        Some(&self.runtime)
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let windows = make_windows(texts, self.window, self.bos, self.eos, |t| {
            self.tokenizer.content_ids(&format!("{}{t}", self.prefix))
        })?;
        let batches = plan_batches(
            &windows,
            self.batch_size,
            self.max_batch_tokens,
            MAX_ATTENTION_CELLS,
        );
        let mut pooled = Vec::with_capacity(batches.len());
        for batch in &batches {
            let (ids, mask, len) = pad_rows(&windows, batch, self.pad);
            pooled.push(self.run(ids, mask, batch.len(), len)?);
        }
        Ok(combine(texts.len(), self.dim, &windows, &batches, pooled))
    }
}
