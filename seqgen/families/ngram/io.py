"""N-gram persistence: plain-dict checkpoint state and the ARPA text format (log10, backoffs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqgen.core.errors import DataError
from seqgen.families.ngram.model import BOS, EOS, UNK, NGram, lookup, ngram_words


def to_state(model: NGram) -> dict:
    """Tensors and primitives only (loads with weights_only=True)."""
    return {"vocab": list(model.vocab),
            "keys": [torch.from_numpy(k) for k in model.keys],
            "logp": [torch.from_numpy(p) for p in model.logp],
            "bow": [torch.from_numpy(b) for b in model.bow],
            "discounts": [list(map(float, d)) for d in model.discounts]}


def from_state(config: NGram.Config, state: dict) -> NGram:
    model = NGram(config, state["vocab"])
    model.keys = [k.numpy() for k in state["keys"]]
    model.logp = [p.numpy() for p in state["logp"]]
    model.bow = [b.numpy() for b in state["bow"]]
    model.discounts = [tuple(d) for d in state.get("discounts", [])]
    return model


def write_arpa(model: NGram, path) -> None:
    """ARPA file: `log10 p <tab> w1 .. wn [<tab> log10 backoff]`, 9 significant digits (float32 exact)."""
    words = np.array(model.vocab, dtype=object)
    tables = ngram_words(model)
    N = model.config.order
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n in range(1, N + 1):
            f.write(f"ngram {n}={len(tables[n - 1])}\n")
        for n in range(1, N + 1):
            f.write(f"\n\\{n}-grams:\n")
            text = [" ".join(row) for row in words[tables[n - 1]]]
            lp = model.logp[n - 1]
            if n < N:
                bw = model.bow[n - 1]
                f.writelines(f"{p:.9g}\t{t}\t{b:.9g}\n" for p, t, b in zip(lp.tolist(), text, bw.tolist()))
            else:
                f.writelines(f"{p:.9g}\t{t}\n" for p, t in zip(lp.tolist(), text))
        f.write("\n\\end\\\n")


def read_arpa(path, vocab_order: list[str] | None = None) -> NGram:
    """Load an ARPA file (KenLM, SRILM or ours). vocab_order fixes the id of each word if given."""
    sections: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("ngram ") and current is None:
                n, c = line[6:].split("=")
                counts[int(n)] = int(c)
            elif line.startswith("\\") and line.endswith("-grams:"):
                current = int(line[1:line.index("-")])
                sections[current] = []
            elif line == "\\end\\":
                break
            elif current is not None:
                sections[current].append(line)
    if not sections or 1 not in sections:
        raise DataError(f"{path} is not an ARPA file (no \\1-grams: section)")
    N = max(sections)
    for n, c in counts.items():
        if len(sections.get(n, [])) != c:
            raise DataError(f"{path}: header says {c} {n}-grams, found {len(sections.get(n, []))}")
    uni = [ln.split("\t") for ln in sections[1]]
    names = [p[1] for p in uni]
    for special in (BOS, EOS, UNK):
        if special not in names:
            raise DataError(f"{path}: the unigrams lack {special}")
    vocab = list(vocab_order) if vocab_order else names
    stoi = {w: i for i, w in enumerate(vocab)}
    V = len(vocab)
    model = NGram(NGram.Config(order=N, vocab_size=V), vocab)
    lp1, bw1 = np.full(V, -99.0, np.float32), np.zeros(V, np.float32)
    ids = np.array([stoi[w] for w in names])
    lp1[ids] = [float(p[0]) for p in uni]
    bw1[ids] = [float(p[2]) if len(p) > 2 else 0.0 for p in uni]
    model.keys, model.logp, model.bow = [np.arange(V, dtype=np.int64)], [lp1], [bw1]
    for n in range(2, N + 1):
        parts = [ln.split("\t") for ln in sections[n]]
        W = np.array([[stoi[w] for w in p[1].split(" ")] for p in parts], dtype=np.int64).reshape(-1, n)
        g = W[:, 0]
        for j in range(1, n - 1):  # id of the (n-1)-word prefix, order by order

            g = lookup(model.keys[j], g * V + W[:, j])
            if (g < 0).any():
                raise DataError(f"{path}: a {n}-gram's prefix is missing from the {j + 1}-grams")
        keys = g * V + W[:, n - 1]
        order = np.argsort(keys)
        model.keys.append(keys[order])
        model.logp.append(np.array([float(p[0]) for p in parts], np.float32)[order])
        if n < N:
            model.bow.append(np.array([float(p[2]) if len(p) > 2 else 0.0 for p in parts], np.float32)[order])
    if N == 1:
        model.bow = []
    else:
        model.bow = model.bow[: N - 1]
    return model


def arpa_to_checkpoint(arpa_path, out) -> Path:
    """export.py arpa=FILE format=checkpoint: a data-free seqgen n-gram checkpoint from an ARPA file
    (KenLM, SRILM, ours), with a whitespace word tokenizer whose ids are the model's."""
    from seqgen.core import checkpoint as ckpt
    from seqgen.data.tokenizer import WordTokenizer

    if not Path(arpa_path).is_file():
        raise DataError(f"arpa={arpa_path}: file not found")
    words = read_arpa(arpa_path).vocab
    itos = [UNK] + [w for w in words if w not in (BOS, EOS, UNK)]
    tok = WordTokenizer(itos, split="whitespace")
    model = read_arpa(arpa_path, vocab_order=itos + [BOS, EOS])  # tokenizer ids == model ids
    return ckpt.save({"model_name": "ngram", "model_config": model.config.__dict__.copy(),
                      "tokenizer": tok.to_json(), "model": to_state(model), "step": 0, "metrics": {},
                      "config": {"source": str(arpa_path)}}, out)


def export_arpa(model, state, out) -> Path:
    """export.py ckpt=<n-gram> format=arpa out=FILE."""
    write_arpa(model, out)
    return Path(out)


def load(state: dict, device):
    """(NGram, tokenizer) from a checkpoint: the tables are numpy arrays, device is not used."""
    from seqgen.data.tokenizer import Tokenizer

    return from_state(NGram.Config(**state["model_config"]), state["model"]), Tokenizer.from_json(state["tokenizer"])
