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
//! Every window runs alone (one row, no padding), on one of several single-threaded
//! sessions (one per core, sharing their prepacked weights). Why one row: the int8
//! kernels quantise activations with one scale per call, so a row batched with others
//! got a vector that depended on its neighbours; measured on real news, macro-F1 then
//! moved between 0.756 and 0.777 with the batch shape alone. Alone, a paragraph's vector
//! depends only on the paragraph (any `--batch-size`, resumed runs and evidence
//! sentences agree), and the cores need no synchronisation inside a pass.
//!
//! ONNX Runtime itself is loaded at run time (`ort`'s `load-dynamic`) from the
//! `libonnxruntime.so` that the PyPI `onnxruntime` wheel ships; set-up links it as
//! `.onnxruntime/libonnxruntime.so` (or set `VEILLE_ORT_LIB`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::Session;
use ort::value::Tensor;

use super::e5::convert::VEILLE_FILE;
use super::e5::E5Tokenizer;
use super::windows::{combine, make_windows, Window};
use super::word_table::{WordTable, WordTableInfo};
use super::Encoder;

/// Graph layout version; must equal `GRAPH_FORMAT` in `scripts/build_onnx.py`.
pub const GRAPH_FORMAT: u32 = 2;
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
    /// The word table beside the graph (format 2 on).
    pub words: Option<WordTableInfo>,
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
    /// Worker sessions, one thread each. `None`: all cores.
    pub threads: Option<usize>,
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
}

/// The int8 e5 encoder on ONNX Runtime (see the module docs).
pub struct OrtEncoder {
    sessions: Vec<Session>,
    words: WordTable,
    tokenizer: E5Tokenizer,
    id: String,
    runtime: String,
    dim: usize,
    prefix: String,
    window: usize,
    bos: i64,
    eos: i64,
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
        let words_info = info.words.clone().ok_or_else(|| {
            anyhow!(
                "{}: the sidecar names no word table; rebuild the graph (scripts/setup.sh)",
                graph.display()
            )
        })?;
        let words_path = graph.with_file_name(&words_info.file);
        let words = WordTable::open(&words_path, words_info)?;
        if words.dim() != dim {
            bail!(
                "{}: rows of {} values, the encoder's are {dim}",
                words_path.display(),
                words.dim()
            );
        }
        let env = environment(&opts.library)?;
        let fail = |e: &dyn std::fmt::Display| anyhow!("loading {}: {e}", graph.display());
        let shared = PrepackedWeights::new();
        let session = || -> Result<Session> {
            Session::builder(env)
                .map_err(|e| fail(&e))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| fail(&e))?
                .with_intra_threads(1)
                .map_err(|e| fail(&e))?
                .with_inter_threads(1)
                .map_err(|e| fail(&e))?
                .with_prepacked_weights(&shared)
                .map_err(|e| fail(&e))?
                // No arena and no memory pattern: both keep the largest window's
                // activations for the rest of the run.
                .with_memory_pattern(false)
                .map_err(|e| fail(&e))?
                .with_execution_providers([ort::ep::CPU::default()
                    .with_arena_allocator(false)
                    .build()])
                .map_err(|e| fail(&e))?
                .commit_from_file(graph)
                .map_err(|e| fail(&e))
        };
        // The sessions and the tokenizer load side by side.
        let (sessions, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| E5Tokenizer::load(model_dir));
            let others: Vec<_> = (1..threads.max(1)).map(|_| scope.spawn(session)).collect();
            let mut sessions = vec![session()];
            for h in others {
                sessions.push(
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("loading a session panicked"))),
                );
            }
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|_| Err(anyhow!("loading the tokenizer panicked")));
            (sessions, tokenizer)
        });
        Ok(OrtEncoder {
            sessions: sessions.into_iter().collect::<Result<_>>()?,
            words,
            tokenizer: tokenizer?,
            id: meta.id,
            runtime: format!("{}:onnxruntime-{}", info.precision, info.onnxruntime),
            dim,
            prefix: opts.prefix,
            window: max_len - 2,
            bos: meta.bos_id as i64,
            eos: meta.eos_id as i64,
        })
    }
}

/// Runs one window alone; its pooled (not normalised) vector.
fn run_window(
    session: &mut Session,
    words: &WordTable,
    ids: &[i64],
    dim: usize,
) -> Result<Vec<f32>> {
    let mut vectors = Vec::new();
    words.lookup(ids, &mut vectors)?;
    let vectors = Tensor::from_array(([1, ids.len(), dim], vectors)).map_err(|e| anyhow!("{e}"))?;
    let mask =
        Tensor::from_array(([1, ids.len()], vec![1i64; ids.len()])).map_err(|e| anyhow!("{e}"))?;
    let outputs = session
        .run(ort::inputs!["word_embeddings" => vectors, "attention_mask" => mask])
        .map_err(|e| anyhow!("ONNX Runtime: {e}"))?;
    let (shape, data) = outputs
        .get("pooled")
        .ok_or_else(|| anyhow!("the graph has no output `pooled`"))?
        .try_extract_tensor::<f32>()
        .map_err(|e| anyhow!("ONNX Runtime output: {e}"))?;
    if shape.len() != 2 || shape[0] != 1 || shape[1] as usize != dim {
        bail!("the graph returned shape {shape:?}, expected [1, {dim}]");
    }
    Ok(data.to_vec())
}

/// Windows split among `workers`, longest first, each to the least loaded worker (load:
/// a layer's multiply-adds over `dim`, per token `12 dim^2` in the projections and
/// `2 n dim` in attention, so `n (6 dim + n)` up to a constant).
fn share_out(windows: &[Window], workers: usize, dim: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&w| std::cmp::Reverse(windows[w].ids.len()));
    let mut load = vec![0usize; workers.max(1)];
    let mut shares = vec![Vec::new(); workers.max(1)];
    for w in order {
        let n = windows[w].ids.len();
        let k = (0..load.len()).min_by_key(|&k| load[k]).unwrap_or(0);
        load[k] += n * (6 * dim + n);
        shares[k].push(w);
    }
    shares
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
        let shares = share_out(&windows, self.sessions.len(), self.dim);
        let dim = self.dim;
        let (windows, words) = (&windows, &self.words);
        let pooled: Vec<Result<Vec<Vec<f32>>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .sessions
                .iter_mut()
                .zip(&shares)
                .map(|(session, share)| {
                    scope.spawn(move || {
                        share
                            .iter()
                            .map(|&w| run_window(session, words, &windows[w].ids, dim))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("an encoder worker panicked")))
                })
                .collect()
        });
        let pooled = pooled.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(combine(texts.len(), dim, windows, &shares, pooled))
    }
}
