#!/usr/bin/env python3
"""Writes the `veille compare` fixtures and the numbers they must give.

    python3 -m venv /tmp/cmpvenv
    /tmp/cmpvenv/bin/pip install scikit-learn statsmodels nltk krippendorff scipy
    /tmp/cmpvenv/bin/python scripts/compare_expectations.py

writes tests/data/compare/*.{jsonl,json,tsv} (deterministic),
tests/data/compare/expected.json, which tests/compare.rs checks to 1e-9 without Python, and
tests/data/compare/significance.json (significance between systems and per-slice metrics),
which tests/compare_significance.rs checks: McNemar and every point figure to 1e-9, bootstrap
intervals and randomization p-values within Monte-Carlo error (both sides resample 10,000
times with their own generators, so they can only agree up to that error).

Reference implementations:
- P/R/F1 (per label, micro, macro), exact match, Hamming loss, confusion counts: scikit-learn,
  zero_division=0;
- Cohen's kappa: sklearn.metrics.cohen_kappa_score (NaN -> null);
- Krippendorff's alpha (nominal, per label): the `krippendorff` package (ValueError -> null);
- Krippendorff's alpha on label sets, MASI distance: nltk AnnotationTask(...).alpha(), with
  masi(a, a) = 0 (NLTK's masi_distance divides by zero on two empty sets);
- Fleiss' kappa: statsmodels fleiss_kappa (NaN -> null);
- significance: scipy.stats.bootstrap (paired, percentile), scipy.stats.permutation_test
  (permutation_type="samples": paired swaps, two-sided), statsmodels mcnemar(exact=True).

The reader here implements the same rules as src/compare/formats.rs (first occurrence of an
id wins, unknown labels dropped, broken lines skipped, error records excluded, join on ids
present in every file) in the simplest way, independently of the Rust code.
"""

import json
import math
import random
import sys
import warnings
from pathlib import Path

import krippendorff
import numpy as np
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

warnings.filterwarnings("ignore")

LABELS = ["espionage", "influence-operation", "corporate-denial", "regulation"]
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "compare"

# ---------------------------------------------------------------------------------------------
# fixtures

TEXTS = {
    "en": "Officials said the agency had found evidence of a coordinated campaign",
    "sv": "Enligt myndigheten fanns det tecken på en samordnad kampanj",
    "fr": "Selon les autorités, une campagne coordonnée aurait été découverte",
}


def random_sets(rng, n, p=(0.3, 0.2, 0.15, 0.25)):
    out = []
    for _ in range(n):
        out.append([l for l, q in zip(LABELS, p) if rng.random() < q])
    return out


def noisy(rng, sets, flip):
    out = []
    for s in sets:
        t = [l for l in LABELS if (l in s) != (rng.random() < flip)]
        out.append(t)
    return out


def write_jsonl(name, rows, raw_lines=()):
    """rows: dicts; raw_lines: (index, text) inserted verbatim before rows[index]."""
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    for i, raw in sorted(raw_lines, reverse=True):
        lines.insert(i, raw)
    (DATA / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(id_, labels, lang=None, text=None, **extra):
    r = {"id": id_}
    if text is not None:
        r["text"] = text
    if lang is not None:
        r["lang"] = lang
    r["labels"] = labels
    r.update(extra)
    return r


def make_fixtures():
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)

    # basic: veille-style records with lang/text, plus every kind of trouble.
    langs = ["en", "sv", "fr"]
    n = 48
    gold_sets = random_sets(rng, n)
    pred_sets = noisy(rng, gold_sets, 0.15)
    gold, pred = [], []
    for i in range(n):
        lang = langs[i % 3]
        id_ = f"{lang}-d{i // 6:03d}-p{i % 6 + 1:02d}"
        text = f"{TEXTS[lang]} ({i})."
        gold.append(record(id_, gold_sets[i], lang=lang, text=text))
        pred.append(record(id_, pred_sets[i], lang=lang, text=text, error=None,
                           lang_confidence=0.9, scores={l: 0.5 for l in LABELS},
                           strategy="embed", model="test-model"))
    # An unknown label in the gold, a duplicate id (second occurrence ignored), a broken line,
    # an error record in the prediction, ids on one side only.
    gold[3]["labels"] = gold[3]["labels"] + ["spying"]
    gold.append(record(gold[5]["id"], ["regulation", "espionage"], lang="en", text="duplicate"))
    pred[7] = dict(pred[7], labels=[], error="text too long (25000 chars > 20000)")
    gold.append(record("en-only-gold-1", ["espionage"], lang="en", text="gold only"))
    gold.append(record("en-only-gold-2", [], lang="en", text="gold only"))
    pred.append(record("sv-only-pred-1", ["regulation"], lang="sv", text="pred only", error=None))
    write_jsonl("basic_gold.jsonl", gold, raw_lines=[(10, '{"id": "broken", "labels": [')])
    write_jsonl("basic_pred.jsonl", pred, raw_lines=[(0, ""), (20, "[1, 2]")])

    # never_predicted: regulation in the gold, never in the prediction.
    n = 30
    g = random_sets(rng, n, p=(0.4, 0.3, 0.2, 0.3))
    g[0] = ["regulation"]
    p = noisy(rng, g, 0.1)
    p = [[l for l in s if l != "regulation"] for s in p]
    write_jsonl("never_gold.jsonl", [record(f"n{i:02d}", s) for i, s in enumerate(g)])
    write_jsonl("never_pred.jsonl", [record(f"n{i:02d}", s) for i, s in enumerate(p)])

    # all_empty: every label set empty on both sides.
    write_jsonl("empty_a.jsonl", [record(f"e{i}", []) for i in range(12)])
    write_jsonl("empty_b.jsonl", [record(f"e{i}", []) for i in range(12)])

    # one_side_none: the prediction never labels anything.
    g = random_sets(rng, 25)
    write_jsonl("none_gold.jsonl", [record(f"o{i:02d}", s) for i, s in enumerate(g)])
    write_jsonl("none_pred.jsonl", [record(f"o{i:02d}", []) for i in range(25)])

    # perfect: the same labels, in TSV (with a header and `none`) against JSONL.
    g = random_sets(rng, 20)
    write_jsonl("perfect_gold.jsonl", [record(f"p{i:02d}", s) for i, s in enumerate(g)])
    tsv = ["id\tlabels"] + [f"p{i:02d}\t{','.join(s) if s else 'none'}" for i, s in enumerate(g)]
    (DATA / "perfect_pred.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")

    # missing_ids: many ids on one side only, both ways.
    g = random_sets(rng, 30)
    p = noisy(rng, g, 0.2)
    write_jsonl("missing_gold.jsonl", [record(f"m{i:02d}", s) for i, s in enumerate(g) if i % 4 != 1])
    write_jsonl("missing_pred.jsonl", [record(f"m{i:02d}", s) for i, s in enumerate(p) if i % 5 != 2])

    # formats: doccano JSONL against a Label Studio export (annotations, a cancelled
    # annotation, a prediction-only task, a task without data.id).
    n = 24
    g = random_sets(rng, n)
    p = noisy(rng, g, 0.2)
    with open(DATA / "formats_doccano.jsonl", "w", encoding="utf-8") as f:
        for i, s in enumerate(g):
            f.write(json.dumps({"id": f"f{i:02d}", "text": f"text {i}", "label": s}) + "\n")
    tasks = []
    for i, s in enumerate(p):
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": s}}] if s else []
        task = {"id": 100 + i, "data": {"id": f"f{i:02d}", "text": f"text {i}"},
                "annotations": [{"id": 1, "was_cancelled": False, "result": result}], "predictions": []}
        if i == 3:
            task["annotations"].insert(0, {"id": 0, "was_cancelled": True, "result": [
                {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["espionage"]}}]})
        if i == 5:
            task["predictions"] = [{"model_version": "m", "score": 0.7, "result": task["annotations"][0]["result"]}]
            task["annotations"] = []
        tasks.append(task)
    tasks.append({"id": 999, "data": {"text": "no data.id"}, "annotations": [{"result": []}]})
    (DATA / "formats_labelstudio.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")

    # three annotators.
    n = 40
    base = random_sets(rng, n)
    for k, flip in enumerate([0.05, 0.15, 0.25]):
        s = noisy(rng, base, flip)
        write_jsonl(f"three_{'abc'[k]}.jsonl", [record(f"t{i:02d}", x) for i, x in enumerate(s)])

    # large: 300 records, correlated but imperfect, with languages.
    n = 300
    g = random_sets(rng, n)
    p = noisy(rng, g, 0.12)
    write_jsonl("large_gold.jsonl", [record(f"L{i:03d}", s, lang=langs[i % 3]) for i, s in enumerate(g)])
    write_jsonl("large_pred.jsonl", [record(f"L{i:03d}", s, lang=langs[i % 3]) for i, s in enumerate(p)])


# ---------------------------------------------------------------------------------------------
# reading (same rules as the Rust reader)


def read(path, keep=False):
    """-> {id: (frozenset labels, lang, error)} in first-occurrence order (with keep, the raw
    record as a fourth item)."""
    text = path.read_text(encoding="utf-8")
    items = {}

    def add(id_, labels, lang=None, error=None, raw=None):
        if id_ in items:
            return
        item = (frozenset(l for l in labels if l in LABELS), lang, error)
        items[id_] = item + (raw or {},) if keep else item

    if text.lstrip().startswith("["):
        for t in json.loads(text):
            id_ = (t.get("data") or {}).get("id", t.get("id"))
            id_ = str(id_)
            anns = [a for a in t.get("annotations") or [] if not a.get("was_cancelled")]
            chosen = (anns or t.get("predictions") or [None])[0]
            labels = [c for r in chosen["result"] for c in r["value"]["choices"]]
            add(id_, labels)
    elif path.suffix == ".tsv":
        for i, line in enumerate(text.splitlines()):
            if not line.strip() or (i == 0 and line.split("\t")[0] == "id"):
                continue
            id_, labs = line.split("\t")
            add(id_, [x for x in labs.split(",") if x != "none"])
    else:
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if not isinstance(r, dict) or "id" not in r:
                continue
            labels = r["labels"] if "labels" in r else r.get("label", [])
            add(str(r["id"]), labels, r.get("lang"), r.get("error"), r)
    return items


# ---------------------------------------------------------------------------------------------
# metrics


def clean(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def masi(a, b):
    return 0.0 if a == b else masi_distance(a, b)


def masi_alpha(rows):
    """rows[c][u]: frozensets."""
    data = [(f"c{c}", f"u{u}", s) for c, row in enumerate(rows) for u, s in enumerate(row)]
    return clean(AnnotationTask(data=data, distance=masi).alpha())


def kripp(cols):
    try:
        return clean(krippendorff.alpha(reliability_data=np.array(cols, dtype=float),
                                        level_of_measurement="nominal"))
    except ValueError:
        return None


def indicator(sets):
    return np.array([[int(l in s) for l in LABELS] for s in sets], dtype=int).reshape(-1, len(LABELS))


def overall(ya, yb):
    kw = dict(zero_division=0)
    return {
        "micro_precision": float(precision_score(ya, yb, average="micro", **kw)),
        "micro_recall": float(recall_score(ya, yb, average="micro", **kw)),
        "micro_f1": float(f1_score(ya, yb, average="micro", **kw)),
        "macro_precision": float(precision_score(ya, yb, average="macro", **kw)),
        "macro_recall": float(recall_score(ya, yb, average="macro", **kw)),
        "macro_f1": float(f1_score(ya, yb, average="macro", **kw)),
        "exact_match": float(accuracy_score(ya, yb)),
        "hamming_loss": float(hamming_loss(ya, yb)),
    }


def pair(sa, sb, langs):
    ya, yb = indicator(sa), indicator(sb)
    p, r, f, support = precision_recall_fscore_support(ya, yb, average=None, zero_division=0,
                                                       labels=list(range(len(LABELS))))
    mcm = multilabel_confusion_matrix(ya, yb)
    per_label = {}
    for k, l in enumerate(LABELS):
        (tn, fp), (fn, tp) = mcm[k]
        per_label[l] = {
            "precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]),
            "support": int(support[k]), "predicted": int(yb[:, k].sum()),
            "cohen_kappa": clean(cohen_kappa_score(ya[:, k], yb[:, k])),
            "krippendorff_alpha": kripp([ya[:, k], yb[:, k]]),
            "confusion": {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)},
        }
    out = dict(overall(ya, yb))
    out["krippendorff_alpha_masi"] = masi_alpha([sa, sb])
    out["per_label"] = per_label
    per_lang = {}
    for lang in sorted({x for x in langs if x}):
        idx = [i for i, x in enumerate(langs) if x == lang]
        o = overall(ya[idx], yb[idx])
        per_lang[lang] = {"n": len(idx), "micro_f1": o["micro_f1"], "macro_f1": o["macro_f1"],
                          "exact_match": o["exact_match"], "hamming_loss": o["hamming_loss"]}
    out["per_lang"] = per_lang
    return out


def expect(files):
    read_files = [read(DATA / f) for f in files]
    order = []
    for items in read_files:
        for id_ in items:
            if id_ not in order:
                order.append(id_)
    joined, excluded = [], []
    only_in = [[] for _ in files]
    for id_ in order:
        present = [id_ in items for items in read_files]
        if all(present):
            if any(items[id_][2] is not None for items in read_files):
                excluded.append(id_)
            else:
                joined.append(id_)
        else:
            for i, p in enumerate(present):
                if p:
                    only_in[i].append(id_)
    sets = [[items[id_][0] for id_ in joined] for items in read_files]
    langs = [next((items[id_][1] for items in read_files if items[id_][1]), None) for id_ in joined]
    pairs = [pair(sets[0], sets[b], langs) for b in range(1, len(files))]
    first = pairs[0]
    exp = {
        "n_ids": len(order),
        "n_joined": len(joined),
        "n_excluded_errors": len(excluded),
        "excluded_error_ids": excluded,
        "only_in": [{"count": len(ids), "ids": ids} for ids in only_in],
    }
    for k in ["micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall",
              "macro_f1", "exact_match", "hamming_loss"]:
        exp[k] = first[k]
    exp["krippendorff_alpha_masi"] = masi_alpha(sets)
    per_label = {}
    ys = [indicator(s) for s in sets]
    for k, l in enumerate(LABELS):
        d = dict(first["per_label"][l])
        d["krippendorff_alpha"] = kripp([y[:, k] for y in ys])
        per_label[l] = d
    exp["per_label"] = per_label
    if len(files) >= 3:
        fk = {}
        for k, l in enumerate(LABELS):
            table, _ = aggregate_raters(np.array([y[:, k] for y in ys]).T, n_cat=2)
            fk[l] = clean(fleiss_kappa(table, method="fleiss"))
        exp["fleiss_kappa"] = fk
    exp["per_lang"] = first["per_lang"]
    exp["pairs"] = pairs
    return exp


CASES = {
    "basic": ["basic_gold.jsonl", "basic_pred.jsonl"],
    "never_predicted": ["never_gold.jsonl", "never_pred.jsonl"],
    "all_empty": ["empty_a.jsonl", "empty_b.jsonl"],
    "one_side_none": ["none_gold.jsonl", "none_pred.jsonl"],
    "one_side_none_reversed": ["none_pred.jsonl", "none_gold.jsonl"],
    "perfect_cross_format": ["perfect_gold.jsonl", "perfect_pred.tsv"],
    "missing_ids": ["missing_gold.jsonl", "missing_pred.jsonl"],
    "doccano_vs_label_studio": ["formats_doccano.jsonl", "formats_labelstudio.json"],
    "three_annotators": ["three_a.jsonl", "three_b.jsonl", "three_c.jsonl"],
    "large": ["large_gold.jsonl", "large_pred.jsonl"],
}


# ---------------------------------------------------------------------------------------------
# significance between systems, and slices

SIG_FILES = ["sig_gold.jsonl", "sig_a.jsonl", "sig_b.jsonl", "sig_c.jsonl"]
RESAMPLES = 10000


def make_significance_fixtures():
    """A reference and three systems over 300 paragraphs: B clearly better than A, C close to
    A. The gold has `source`/`month` at the top level (as gold JSONL does), the systems under
    `meta` (as veille records do); some paragraphs have no source (the `(none)` slice)."""
    rng = random.Random(14)
    n = 300
    langs = ["en", "sv", "fr"]
    sources = ["wire", "blog", "gov", "court"]
    g = random_sets(rng, n)
    systems = [noisy(rng, g, 0.16), noisy(rng, g, 0.09), noisy(rng, g, 0.15)]
    meta = []
    for i in range(n):
        m = {"month": f"2026-0{1 + i % 3}"}
        if i % 37 != 5:
            m["source"] = sources[rng.randrange(len(sources))]
        meta.append(m)
    gold = [dict(record(f"s{i:03d}", g[i], lang=langs[i % 3]), doc=f"doc{i // 6:02d}", **meta[i])
            for i in range(n)]
    write_jsonl(SIG_FILES[0], gold)
    for name, sets in zip(SIG_FILES[1:], systems):
        rows = [dict(record(f"s{i:03d}", sets[i], lang=langs[i % 3]), doc=f"doc{i // 6:02d}",
                     meta=meta[i], error=None) for i in range(n)]
        write_jsonl(name, rows)


def bitmask(sets):
    return np.array([sum(1 << k for k, l in enumerate(LABELS) if l in s) for s in sets], dtype=np.int64)


def sig_metrics(g, p, axis=-1):
    """Every significance metric of predictions p against gold g (bit masks), along axis."""
    out = {}
    f1s = []
    TP = FP = FN = 0
    for k, l in enumerate(LABELS):
        gk = (g >> k) & 1
        pk = (p >> k) & 1
        tp = (gk & pk).sum(axis=axis)
        fp = ((1 - gk) & pk).sum(axis=axis)
        fn = (gk & (1 - pk)).sum(axis=axis)
        den = 2 * tp + fp + fn
        f1 = np.where(den == 0, 0.0, 2 * tp / np.maximum(den, 1))
        out[f"f1:{l}"] = f1
        f1s.append(f1)
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    den = 2 * TP + FP + FN
    out["micro_f1"] = np.where(den == 0, 0.0, 2 * TP / np.maximum(den, 1))
    out["macro_f1"] = sum(f1s) / len(LABELS)
    out["exact_match"] = (g == p).mean(axis=axis)
    return out


def significance_expect(files, seed=1):
    from scipy import stats
    from statsmodels.stats.contingency_tables import mcnemar

    read_files = [read(DATA / f) for f in files]
    ids = [i for i in read_files[0] if all(i in r and r[i][2] is None for r in read_files)]
    g = bitmask([read_files[0][i][0] for i in ids])
    systems = [bitmask([r[i][0] for i in ids]) for r in read_files[1:]]
    names = ["macro_f1", "micro_f1"] + [f"f1:{l}" for l in LABELS] + ["exact_match"]
    rows = []
    for a in range(len(systems)):
        for b in range(a + 1, len(systems)):
            xa, xb = systems[a], systems[b]
            for m in names:
                def diff(x, y, axis=-1, gold=None):
                    return sig_metrics(gold, y, axis)[m] - sig_metrics(gold, x, axis)[m]

                def boot_stat(gg, x, y, axis=-1):
                    return sig_metrics(gg, y, axis)[m] - sig_metrics(gg, x, axis)[m]

                observed = float(boot_stat(g, xa, xb))
                boot = stats.bootstrap((g, xa, xb), boot_stat, paired=True, vectorized=True,
                                       n_resamples=RESAMPLES, method="percentile",
                                       confidence_level=0.95,
                                       random_state=np.random.default_rng(seed))
                row = {"system_a": files[1 + a], "system_b": files[1 + b], "metric": m,
                       "diff": observed, "ci_low": float(boot.confidence_interval.low),
                       "ci_high": float(boot.confidence_interval.high),
                       "bootstrap_sd": float(boot.standard_error)}
                if m == "exact_match":
                    ea, eb = xa == g, xb == g
                    table = [[int((ea & eb).sum()), int((ea & ~eb).sum())],
                             [int((~ea & eb).sum()), int((~ea & ~eb).sum())]]
                    row["p_value"] = float(mcnemar(table, exact=True).pvalue)
                    row["p_exact"] = True
                else:
                    perm = stats.permutation_test(
                        (xa, xb), lambda x, y, axis=-1: diff(x, y, axis, gold=g),
                        permutation_type="samples", vectorized=True, n_resamples=RESAMPLES,
                        alternative="two-sided", random_state=np.random.default_rng(seed))
                    row["p_value"] = float(perm.pvalue)
                    row["p_exact"] = False
                rows.append(row)
    return {"files": files, "n": len(ids), "resamples": RESAMPLES, "significance": rows}


def slices_expect(files, field):
    read_files = [read(DATA / f, keep=True) for f in files]
    ids = [i for i in read_files[0] if all(i in r and r[i][2] is None for r in read_files)]

    def value(i):
        for r in read_files:
            rec = r[i][3]
            v = (rec.get("meta") or {}).get(field, rec.get(field))
            if v is not None:
                return str(v)
        return "(none)"

    keys = sorted({value(i) for i in ids} - {"(none)"})
    if any(value(i) == "(none)" for i in ids):
        keys.append("(none)")
    pairs = []
    for b in range(1, len(files)):
        slices = {}
        for key in keys:
            sub = [i for i in ids if value(i) == key]
            ya = indicator([read_files[0][i][0] for i in sub])
            yb = indicator([read_files[b][i][0] for i in sub])
            d = overall(ya, yb)
            d["n"] = len(sub)
            p, r, f, support = precision_recall_fscore_support(
                ya, yb, average=None, zero_division=0, labels=list(range(len(LABELS))))
            d["per_label"] = {l: {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]),
                                  "support": int(support[k]), "predicted": int(yb[:, k].sum())}
                              for k, l in enumerate(LABELS)}
            slices[key] = d
        pairs.append({"a": files[0], "b": files[b], "slices": slices})
    support = {k: sum(1 for i in ids if value(i) == k) for k in keys}
    return {"files": files, "by": f"meta.{field}", "support": support, "pairs": pairs}


def mcnemar_cases():
    from statsmodels.stats.contingency_tables import mcnemar
    out = []
    for b, c in [(0, 0), (0, 1), (1, 9), (7, 7), (12, 30), (40, 61), (150, 190), (480, 560),
                 (900, 1100), (3000, 3100)]:
        out.append({"b": b, "c": c, "p_value": float(mcnemar([[10, b], [c, 10]], exact=True).pvalue)})
    return out


def write_significance():
    out = {
        "_about": "written by scripts/compare_expectations.py (scipy, statsmodels, scikit-learn); "
                  "checked by tests/compare_significance.rs",
        "significance": significance_expect(SIG_FILES),
        "identical": significance_expect([SIG_FILES[0], SIG_FILES[1], SIG_FILES[1]]),
        "slices": slices_expect(SIG_FILES, "source"),
        "mcnemar": mcnemar_cases(),
    }
    (DATA / "significance.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    for r in out["significance"]["significance"]:
        print(f"{r['system_a']:>15} {r['system_b']:>15} {r['metric']:28} diff {r['diff']:+.4f}"
              f"  CI [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]  p {r['p_value']:.4g}")


def main():
    if "--no-fixtures" not in sys.argv:
        make_fixtures()
        make_significance_fixtures()
    write_significance()
    out = {"_about": "written by scripts/compare_expectations.py; checked by tests/compare.rs to 1e-9",
           "cases": {name: {"files": files, "expected": expect(files)} for name, files in CASES.items()}}
    (DATA / "expected.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    for name, c in out["cases"].items():
        e = c["expected"]
        print(f"{name:26} joined {e['n_joined']:3}  micro-F1 {e['micro_f1']:.4f}  macro-F1 {e['macro_f1']:.4f}"
              f"  alpha(MASI) {e['krippendorff_alpha_masi']}")


if __name__ == "__main__":
    main()
