"""What word vectors know: cosine neighbours, analogies (3CosAdd / 3CosMul, gensim's
evaluate_word_analogies), and word-pair similarity against human scores (WordSim-353, SimLex-999)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.data.sources import CATALOG, fetch_packaged


class VocabularyError(ConfigError):
    """A query word is not in the vocabulary (a user input: sample.py prompt=...)."""


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)


def nearest(vocab: list[str], vectors: torch.Tensor, positive, negative=(), k: int = 10):
    """Cosine neighbours of sum(positive) - sum(negative) (unit vectors), query words excluded."""
    index = {w: i for i, w in enumerate(vocab)}
    missing = [w for w in list(positive) + list(negative) if w not in index]
    if missing:
        raise VocabularyError(f"not in the vocabulary ({len(vocab):,} words): {', '.join(missing)}")
    U = _unit(vectors.float())
    q = sum(U[index[w]] for w in positive) - sum((U[index[w]] for w in negative), torch.zeros(U.shape[1]))
    sims = U @ (q / q.norm().clamp(min=1e-12))
    sims[[index[w] for w in list(positive) + list(negative)]] = float("-inf")
    top = sims.topk(min(k, len(vocab) - 1))
    return [(vocab[i], float(s)) for s, i in zip(top.values, top.indices)]


def read_analogies(path) -> list[tuple]:
    """questions-words.txt: `: section` headers and `a b c d` lines -> [(section, a, b, c, d)]."""
    out, section = [], ""
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith(":"):
            section = line[1:].strip()
        elif line:
            a, b, c, d = line.lower().split()
            out.append((section, a, b, c, d))
    return out


@torch.no_grad()
def evaluate_analogies(vocab, vectors, questions, restrict_vocab: int = 30000, method: str = "add") -> dict:
    """a : b :: c : d, answered by the most similar word to b - a + c among the restrict_vocab most
    frequent words (vocab is frequency-ordered), a, b, c excluded; gensim's evaluate_word_analogies
    (3CosAdd), or Levy & Goldberg's 3CosMul. Questions with a word outside that set are skipped."""
    if method not in ("add", "mul"):
        raise ValueError(f"method must be 'add' or 'mul', got {method!r}")
    return analogy_scores(vocab, vectors, questions, restrict_vocab, (method,))[method]


_TABLE_ELEMS = 1 << 26   # cosines held at once (256 MB of float32): the distinct words' table, else per block


@torch.no_grad()
def analogy_scores(vocab, vectors, questions, restrict_vocab: int = 30000, methods=("add", "mul")) -> dict:
    """{method: evaluate_analogies' dict} for several methods in one pass over the questions. The
    cosines come from one product of the questions' distinct words with the candidates (the Google set:
    ~900 words for ~10k questions, instead of a product per question), shifted to [0, 1] once:
    3CosMul is sb * sc / (sa + eps) on them, and 3CosAdd's (b - a + c) . u ranks the candidates as
    sb - sa + sc does (a, b, c, u unit vectors; the query's norm does not change the argmax)."""
    index = {w: i for i, w in enumerate(vocab[:restrict_vocab])}
    qs = [q for q in questions if all(w in index for w in q[1:])]
    U = _unit(vectors[: len(index)].float())
    correct = dict.fromkeys(methods, 0)
    ids = torch.tensor([[index[w] for w in q[1:]] for q in qs], dtype=torch.long).reshape(-1, 4)   # (Q, 4)
    n_words = len(torch.unique(ids[:, :3]))
    block = max(1, len(qs)) if n_words * len(index) <= _TABLE_ELEMS else max(1, _TABLE_ELEMS // (3 * len(index)))
    for s0 in range(0, len(qs), block):
        bid = ids[s0:s0 + block]
        words, inv = torch.unique(bid[:, :3], return_inverse=True)             # inv: (q, 3) table rows
        table = (U[words] @ U.T).add_(1).mul_(0.5)                             # (W, V) shifted cosines
        for s in range(0, len(bid), 64):   # (64, V) gathers stay in cache
            r, q = inv[s:s + 64], bid[s:s + 64]
            sa, sb, sc = table[r[:, 0]], table[r[:, 1]], table[r[:, 2]]
            for method in methods:
                score = sb - sa + sc if method == "add" else sb * sc / (sa + 1e-6)
                score.scatter_(1, q[:, :3], float("-inf"))
                correct[method] += int((score.argmax(1) == q[:, 3]).sum())
    return {m: {"accuracy": correct[m] / max(1, len(qs)), "correct": correct[m], "answered": len(qs),
                "oov_ratio": 1 - len(qs) / max(1, len(questions))} for m in methods}


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy.stats.rankdata's 'average')."""
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    first = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    size = np.diff(np.r_[first, len(x)])
    out = np.empty(len(x))
    out[order] = np.repeat(first + (size + 1) / 2, size)
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / np.sqrt((x @ x) * (y @ y)))


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the average ranks (scipy.stats.spearmanr's statistic, without
    importing scipy.stats: ~1-2 s at the end of every word2vec run)."""
    return _pearson(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))


def evaluate_word_pairs(vocab, vectors, path) -> dict:
    """Spearman (and Pearson) correlation of cosine similarity with human scores; `#` lines are
    comments, pairs with a word outside the vocabulary are skipped and counted in oov_ratio."""
    index = {w: i for i, w in enumerate(vocab)}
    U = _unit(vectors.float())
    pairs, human, total = [], [], 0
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.lower().split("\t")[:3]
        total += 1
        if a in index and b in index:
            pairs.append((index[a], index[b]))
            human.append(float(score))
    oov = 1 - len(pairs) / max(1, total)
    if len(pairs) < 3:   # a tiny vocabulary covers almost no pair: no correlation to report
        return {"spearman": float("nan"), "pearson": float("nan"), "oov_ratio": oov}
    ij = torch.tensor(pairs)
    model = (U[ij[:, 0]] * U[ij[:, 1]]).sum(1).double().numpy()
    human = np.array(human)
    return {"spearman": spearman(model, human), "pearson": _pearson(model, human), "oov_ratio": oov}


def evaluate_word_vectors(vocab, vectors, raw_root, restrict_vocab: int = 30000) -> dict:
    """Google analogies (3CosAdd, 3CosMul), WordSim-353 and SimLex-999, fetched once from the gensim
    wheel. Without a package index the evaluation is skipped with a warning."""
    try:
        files = {n: fetch_packaged(n, CATALOG[n], raw_root) for n in ("questions_words", "wordsim353", "simlex999")}
    except DataError as e:
        warnings.warn(f"word2vec evaluation sets unavailable, skipping them: {e}", stacklevel=2)
        return {}
    qs = read_analogies(files["questions_words"])
    out = {}
    for method, r in analogy_scores(vocab, vectors, qs, restrict_vocab).items():
        out[f"analogy_{method}"], out["analogy_oov_ratio"] = r["accuracy"], r["oov_ratio"]
    for name in ("wordsim353", "simlex999"):
        r = evaluate_word_pairs(vocab, vectors, files[name])
        out[f"{name}_spearman"], out[f"{name}_oov_ratio"] = r["spearman"], r["oov_ratio"]
    print("[seqgen] " + ", ".join(f"{k} {v:.4f}" for k, v in out.items()), flush=True)
    return out


@dataclass
class EvalArgs:
    restrict_vocab: int = key(30000, ge=1)   # analogies: candidates among this many most frequent words (gensim's)
    eval_sets: bool = True           # false: report the scores the checkpoint recorded when it was fitted


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for word2vec: analogies (3CosAdd, 3CosMul), WordSim-353 and SimLex-999 (the sets
    are fetched once from the gensim wheel); without a package index only the vocabulary is reported."""
    out = {"model": state["model_name"], "data": state["config"].get("data", {}).get("name"), "vocab": len(model.vocab)}
    if not args.eval_sets:
        recorded = state.get("metrics", {})
        return {**out, **{k: v for k, v in recorded.items() if k.startswith(("analogy", "wordsim", "simlex"))}}
    out.update(evaluate_word_vectors(model.vocab, model.vectors, Path(ec.data_root).expanduser() / "raw",
                                     args.restrict_vocab))
    return out
