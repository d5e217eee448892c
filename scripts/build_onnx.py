#!/usr/bin/env python3
"""Builds the int8 ONNX Runtime graph of a veille encoder (base BERT weights + the
fine-tuned layer delta a heads file names), for `veille classify --precision int8`.

Run by scripts/setup.sh inside `.venv` (packages `onnx`, `onnxruntime`, `numpy`; no torch):

    python scripts/build_onnx.py --heads models/heads/embed.json [--models models]

writes `models/onnx/<heads stem>.int8.onnx` (+ `.onnx.data`, its weights), the word table
`<heads stem>.int8.words` and a sidecar `<heads stem>.int8.json` that records what the
graph was made from (encoder id, sha256 of the base weights and of the delta) and the
table's layout. veille refuses a graph whose sidecar does not match the heads' delta, so a
retrained delta needs this script run again (setup does it; a matching graph is skipped).

The graph is written directly with `onnx.helper` from the safetensors files:
- it takes the word vectors, not token ids: the word-embedding table is written beside it
  as int8 with one f32 scale per block of 32 values (the base model came from 4-bit
  blocks of 32, so this loses almost nothing: ~100 MB instead of 384 MB), and veille
  looks rows up itself from one memory map read at random, so only the rows a text uses
  take memory, once however many sessions run (inside the graph, each session mapped the
  table and page fault-around made all of it resident);
- position embeddings with token-type row 0 folded in, LayerNorm;
- per layer ONNX Runtime's fused CPU operators (`Attention`, `SkipLayerNormalization`,
  `BiasGelu`, com.microsoft domain) around plain `MatMul`s;
- mean pooling over the attention mask (special tokens included), not normalised: veille
  averages windows of long texts itself and normalises after.
The f32 graph is then quantised with ONNX Runtime's own dynamic quantiser (int8 weights
per output channel, activations quantised per call) for `Attention` and the `MatMul`s,
except the feed-forward output projections and the first layer (see `F32_NODES`).

`--check` compares the f32 graph (and, for information, the int8 one) with a numpy forward
pass of the same weights on a few token sequences, and fails below cosine 0.9999.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, helper, numpy_helper

# Bumped whenever the graph layout changes; veille checks it (src/represent/onnx.rs).
GRAPH_FORMAT = 2
BLOCK = 32


def F32_NODES(cfg):
    """Nodes kept in f32: the feed-forward output projections, and the whole first layer.
    The feed-forward outputs' input (after GELU) has a few channels far larger than the
    rest, and one int8 scale per tensor for it costs the most accuracy (measured on the
    parity texts: min cosine to f32 0.973 with them in int8, 0.993 without; they are a
    third of the MatMul work). The first layer in f32 as well kept real-news macro-F1
    within 0.005 of f32 at every batch shape tried (real news, int8 against f32 0.777:
    feed-forward outputs alone 0.768; + first layer 0.775; + last layer instead 0.767;
    + every attention output 0.770; written test split 0.865-0.869 against 0.867)."""
    first = ["l0.att", "l0.ao", "l0.fi"]
    return [f"l{i}.fo" for i in range(cfg["num_hidden_layers"])] + first


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_safetensors(path):
    """name -> float32 array (F32/F16/BF16), names without a leading `bert.`."""
    dtypes = {"F32": np.float32, "F16": np.float16}
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        data = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start : base + end]
        if info["dtype"] == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in dtypes:
            arr = raw.view(dtypes[info["dtype"]]).astype(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        key = name[5:] if name.startswith("bert.") else name
        out[key] = arr.reshape(info["shape"])
    return out


def find_encoder_dir(models, encoder_id):
    for entry in sorted(os.listdir(models)):
        d = os.path.join(models, entry)
        meta = os.path.join(d, "veille.json")
        if os.path.isfile(os.path.join(d, "config.json")) and os.path.isfile(meta):
            with open(meta) as f:
                if json.load(f).get("id") == encoder_id:
                    return d
    raise SystemExit(f"encoder {encoder_id!r} is not installed in {models} (run scripts/setup.sh)")


def build_f32_graph(w, cfg, smooth=None, gelu_outputs=False):
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    n_layers = cfg["num_hidden_layers"]
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs, domain=None, **attrs):
        nodes.append(helper.make_node(op, ins, outs, name=outs[0], domain=domain, **attrs))
        return outs[0]

    # Embeddings: the word vectors come in (veille looks them up in the int8 table written
    # beside the graph, see quantize_words); positions with token type 0, LayerNorm.
    pos = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    init("pos_type", pos.astype(np.float32))
    init("emb_ln_w", w["embeddings.LayerNorm.weight"])
    init("emb_ln_b", w["embeddings.LayerNorm.bias"])
    init("zero", np.array([0], dtype=np.int64))
    init("one", np.array([1], dtype=np.int64))
    init("axis1", np.array([1], dtype=np.int64))
    init("two", np.array([2], dtype=np.int64))

    node("Shape", ["attention_mask"], ["ids_shape"])
    node("Slice", ["ids_shape", "one", "two"], ["seq_len"])  # [L]
    node("Slice", ["pos_type", "zero", "seq_len", "zero"], ["pos_l"])
    node("Add", ["word_embeddings", "pos_l"], ["emb_sum"])
    x = node("LayerNormalization", ["emb_sum", "emb_ln_w", "emb_ln_b"], ["emb"], axis=-1, epsilon=eps)
    node("Cast", ["attention_mask"], ["mask_i32"], to=TensorProto.INT32)

    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
        init(f"l{i}.qkv_w", qkv_w)
        init(f"l{i}.qkv_b", qkv_b)
        init(f"l{i}.ao_w", w[p + "attention.output.dense.weight"].T)
        init(f"l{i}.ao_b", w[p + "attention.output.dense.bias"])
        init(f"l{i}.aln_w", w[p + "attention.output.LayerNorm.weight"])
        init(f"l{i}.aln_b", w[p + "attention.output.LayerNorm.bias"])
        init(f"l{i}.fi_w", w[p + "intermediate.dense.weight"].T)
        init(f"l{i}.fi_b", w[p + "intermediate.dense.bias"])
        if smooth is None:
            init(f"l{i}.fo_w", w[p + "output.dense.weight"].T)
        init(f"l{i}.fo_b", w[p + "output.dense.bias"])
        init(f"l{i}.oln_w", w[p + "output.LayerNorm.weight"])
        init(f"l{i}.oln_b", w[p + "output.LayerNorm.bias"])
        att = node(
            "Attention",
            [x, f"l{i}.qkv_w", f"l{i}.qkv_b", "mask_i32"],
            [f"l{i}.att"],
            domain="com.microsoft",
            num_heads=heads,
        )
        ao = node("MatMul", [att, f"l{i}.ao_w"], [f"l{i}.ao"])
        x1 = node(
            "SkipLayerNormalization",
            [ao, x, f"l{i}.aln_w", f"l{i}.aln_b", f"l{i}.ao_b"],
            [f"l{i}.x1"],
            domain="com.microsoft",
            epsilon=eps,
        )
        fi = node("MatMul", [x1, f"l{i}.fi_w"], [f"l{i}.fi"])
        g = node("BiasGelu", [fi, f"l{i}.fi_b"], [f"l{i}.gelu"], domain="com.microsoft")
        if smooth is not None:
            # Divide the GELU output's channels by s and multiply the weight rows by s:
            # the product is unchanged, the activation's range is evened out for int8.
            init(f"l{i}.inv_s", (1.0 / smooth[i]).astype(np.float32))
            g = node("Mul", [g, f"l{i}.inv_s"], [f"l{i}.gelu_s"])
            init(f"l{i}.fo_w", (w[p + "output.dense.weight"].T * smooth[i][:, None]).astype(np.float32))
        fo = node("MatMul", [g, f"l{i}.fo_w"], [f"l{i}.fo"])
        x = node(
            "SkipLayerNormalization",
            [fo, x1, f"l{i}.oln_w", f"l{i}.oln_b", f"l{i}.fo_b"],
            [f"l{i}.out"],
            domain="com.microsoft",
            epsilon=eps,
        )

    # Mean over the mask.
    node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    init("last", np.array([-1], dtype=np.int64))
    node("Unsqueeze", ["mask_f", "last"], ["mask3"])
    node("Mul", [x, "mask3"], ["masked"])
    node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0)
    node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0)
    node("Max", ["count", "one_f"], ["count1"])
    init("one_f", np.array([1.0], dtype=np.float32))
    node("Div", ["summed", "count1"], ["pooled"])

    graph = helper.make_graph(
        nodes,
        "veille-encoder",
        [
            helper.make_tensor_value_info("word_embeddings", TensorProto.FLOAT, ["batch", "len", hidden]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "len"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])]
        + [
            helper.make_tensor_value_info(f"l{i}.gelu", TensorProto.FLOAT, None)
            for i in range(n_layers)
            if gelu_outputs
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="veille scripts/build_onnx.py",
    )
    model.ir_version = 8
    return model


def quantize_words(w, hidden):
    """The word-embedding table as int8 with one f32 scale per block of 32 values (the
    base model came from 4-bit blocks of 32, so this loses almost nothing)."""
    word = w["embeddings.word_embeddings.weight"]
    blocks = word.reshape(word.shape[0], hidden // BLOCK, BLOCK)
    scale = np.abs(blocks).max(axis=2, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(blocks / scale), -127, 127).astype(np.int8)
    return q.reshape(word.shape[0], hidden), scale.reshape(word.shape[0], hidden // BLOCK).astype("<f4")


def lookup_words(q, scale, ids):
    """What veille feeds the graph: the dequantised rows of `ids` ([batch, len])."""
    rows = q[ids].astype(np.float32).reshape(*ids.shape, -1, BLOCK)
    return (rows * scale[ids][..., None]).reshape(*ids.shape, -1)


def write_words(q, scale, path):
    """The table file veille maps: int8 rows, then (page-aligned) the f32 LE scales."""
    body = q.tobytes()
    offset = -(-len(body) // 4096) * 4096
    with open(path + ".tmp", "wb") as f:
        f.write(body)
        f.write(b"\0" * (offset - len(body)))
        f.write(scale.tobytes())
    os.replace(path + ".tmp", path)
    return {
        "file": os.path.basename(path),
        "vocab": int(q.shape[0]),
        "dim": int(q.shape[1]),
        "block": BLOCK,
        "scales_offset": offset,
        "sha256": sha256_file(path),
    }


def write_with_external_data(src, dst, align=1 << 16, threshold=1 << 16):
    """Saves `src` as `dst` + `dst.data`, large tensors page-aligned in the data file:
    ONNX Runtime then maps them instead of copying them, so the word embeddings (the
    bulk of the file) only take memory for the rows a text uses."""
    model = onnx.load(src)
    data_name = os.path.basename(dst) + ".data"
    tmp = dst + ".tmp"
    with open(tmp + ".data", "wb") as f:
        for t in model.graph.initializer:
            if not t.HasField("raw_data") or len(t.raw_data) < threshold:
                continue
            f.write(b"\0" * ((-f.tell()) % align))
            offset = f.tell()
            f.write(t.raw_data)
            external_data_helper.set_external_data(t, data_name, offset, len(t.raw_data))
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
    onnx.save(model, tmp)
    os.replace(tmp + ".data", dst + ".data")
    os.replace(tmp, dst)


def numpy_forward(w, cfg, ids):
    """Reference pooled vector for one sequence (post-LN BERT, exact GELU)."""
    from math import erf, sqrt

    erf_v = np.vectorize(erf)
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = float(cfg.get("layer_norm_eps", 1e-12))

    def ln(v, g, b):
        m = v.mean(-1, keepdims=True)
        s = ((v - m) ** 2).mean(-1, keepdims=True)
        return (v - m) / np.sqrt(s + eps) * g + b

    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = ln(x + w["embeddings.token_type_embeddings.weight"][0], w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hd = hidden // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda v, name: v @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q, k, v = (lin(x, f"attention.self.{t}").reshape(n, heads, hd).transpose(1, 0, 2) for t in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = ln(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1 + erf_v(h / sqrt(2)))
        x = ln(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x.mean(0)


def check(paths, w, cfg, words):
    import onnxruntime as ort

    rng = np.random.default_rng(5)
    seqs = [[0] + list(rng.integers(5, 250000, size=n)) + [2] for n in (3, 17, 60)]
    width = max(map(len, seqs))
    ids = np.full((len(seqs), width), 1, dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
    ref = [numpy_forward(w, cfg, np.array(s)) for s in seqs]
    ok = True
    for kind, path, floor in paths:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        (out,) = sess.run(None, {"word_embeddings": lookup_words(*words, ids), "attention_mask": mask})
        for r, v in zip(ref, out):
            cos = float(r @ v / np.linalg.norm(r) / np.linalg.norm(v))
            print(f"[build_onnx] check {kind}: cosine {cos:.6f} to numpy ({len(seqs)} sequences)", file=sys.stderr)
            ok &= cos >= floor
    if not ok:
        raise SystemExit("build_onnx: the graph does not reproduce the reference forward pass")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", required=True, help="heads file (names the encoder and its delta)")
    ap.add_argument("--models", default="models")
    ap.add_argument("--out-dir", help="default: <models>/onnx")
    ap.add_argument("--check", action="store_true", help="compare with a numpy forward pass")
    ap.add_argument("--force", action="store_true", help="rebuild even when the sidecar matches")
    args = ap.parse_args()

    with open(args.heads) as f:
        heads = json.load(f)
    enc_dir = find_encoder_dir(args.models, heads["encoder"])
    base_path = os.path.join(enc_dir, "model.safetensors")
    delta_name = heads.get("encoder_delta")
    delta_path = os.path.join(os.path.dirname(os.path.abspath(args.heads)), delta_name) if delta_name else None
    stem = os.path.splitext(os.path.basename(args.heads))[0]
    out_dir = args.out_dir or os.path.join(args.models, "onnx")
    os.makedirs(out_dir, exist_ok=True)
    graph_path = os.path.join(out_dir, f"{stem}.int8.onnx")
    side_path = os.path.join(out_dir, f"{stem}.int8.json")

    import onnxruntime

    sidecar = {
        "format": GRAPH_FORMAT,
        "encoder": heads["encoder"],
        "precision": "int8",
        "base_sha256": sha256_file(base_path),
        "delta": delta_name,
        "delta_sha256": sha256_file(delta_path) if delta_path else None,
        "onnxruntime": onnxruntime.__version__,
        "quantization": "onnxruntime.quantization.quantize_dynamic: Attention and the MatMuls other than "
        "the feed-forward outputs and the first layer, int8 weights per channel, activations quantised per call; "
        "word embeddings int8 in blocks of 32",
    }
    if not args.force and os.path.isfile(graph_path) and os.path.isfile(side_path):
        with open(side_path) as f:
            old = json.load(f)
        fresh = all(old.get(k) == sidecar[k] for k in ("format", "encoder", "base_sha256", "delta_sha256", "quantization"))
        words_ok = os.path.isfile(os.path.join(out_dir, f"{stem}.int8.words"))
        if fresh and words_ok and os.path.isfile(graph_path + ".data"):
            print(f"[build_onnx] {graph_path} is up to date", file=sys.stderr)
            return

    with open(os.path.join(enc_dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(base_path)
    if delta_path:
        delta = read_safetensors(delta_path)
        for name, arr in delta.items():
            if name not in w:
                raise SystemExit(f"{delta_path}: tensor {name} has no counterpart in {base_path}")
            if w[name].shape != arr.shape:
                raise SystemExit(f"{delta_path}: {name} is {arr.shape}, the encoder's is {w[name].shape}")
            w[name] = arr
        print(f"[build_onnx] merged {len(delta)} fine-tuned tensors from {delta_path}", file=sys.stderr)

    from onnxruntime.quantization import QuantType, quantize_dynamic

    words = quantize_words(w, cfg["hidden_size"])
    sidecar["words"] = write_words(*words, os.path.join(out_dir, f"{stem}.int8.words"))
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        f32_path = os.path.join(tmp, "f32.onnx")
        onnx.save(build_f32_graph(w, cfg), f32_path)
        tmp_int8 = os.path.join(tmp, "int8.onnx")
        quantize_dynamic(
            f32_path,
            tmp_int8,
            op_types_to_quantize=["MatMul", "Attention"],
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=F32_NODES(cfg),
            # Shape inference cannot see through the com.microsoft operators.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        if args.check:
            # Random ids are far from text, so only the f32 graph is held to the reference
            # here; the int8 graph's guard is tests/int8.rs (cosine on real texts).
            check([("f32", f32_path, 0.9999), ("int8", tmp_int8, 0.0)], w, cfg, words)
        write_with_external_data(tmp_int8, graph_path)
    with open(side_path, "w") as f:
        json.dump(sidecar, f, indent=1)
        f.write("\n")
    size = (os.path.getsize(graph_path) + os.path.getsize(graph_path + ".data")) >> 20
    table = os.path.getsize(os.path.join(out_dir, sidecar["words"]["file"])) >> 20
    print(f"[build_onnx] wrote {graph_path} and its .data ({size} MB), words table ({table} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
