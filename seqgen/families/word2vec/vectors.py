"""What word vectors know: cosine neighbours, analogies (3CosAdd / 3CosMul, gensim's
evaluate_word_analogies), and word-pair similarity against human scores (WordSim-353, SimLex-999)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

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
    index = {w: i for i, w in enumerate(vocab[:restrict_vocab])}
    qs = [q for q in questions if all(w in index for w in q[1:])]
    U = _unit(vectors[: len(index)].float())
    correct, chunk = 0, 256   # (chunk, V) score matrices: 3CosMul holds ~6 of them (~180 MB at V = 30k)
    for s in range(0, len(qs), chunk):
        ids = torch.tensor([[index[w] for w in q[1:]] for q in qs[s:s + chunk]])
        a, b, c = U[ids[:, 0]], U[ids[:, 1]], U[ids[:, 2]]
        if method == "add":
            score = (b - a + c) @ U.T
        elif method == "mul":  # cosines shifted to [0, 1]
            sa, sb, sc = ((x @ U.T + 1) / 2 for x in (a, b, c))
            score = sb * sc / (sa + 1e-6)
        else:
            raise ValueError(f"method must be 'add' or 'mul', got {method!r}")
        score.scatter_(1, ids[:, :3], float("-inf"))
        correct += int((score.argmax(1) == ids[:, 3]).sum())
    return {"accuracy": correct / max(1, len(qs)), "correct": correct, "answered": len(qs),
            "oov_ratio": 1 - len(qs) / max(1, len(questions))}


def evaluate_word_pairs(vocab, vectors, path) -> dict:
    """Spearman (and Pearson) correlation of cosine similarity with human scores; `#` lines are
    comments, pairs with a word outside the vocabulary are skipped and counted in oov_ratio."""
    from scipy.stats import pearsonr, spearmanr

    index = {w: i for i, w in enumerate(vocab)}
    U = _unit(vectors.float())
    model, human, total = [], [], 0
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.lower().split("\t")[:3]
        total += 1
        if a in index and b in index:
            model.append(float(U[index[a]] @ U[index[b]]))
            human.append(float(score))
    oov = 1 - len(model) / max(1, total)
    if len(model) < 3:   # a tiny vocabulary covers almost no pair: no correlation to report
        return {"spearman": float("nan"), "pearson": float("nan"), "oov_ratio": oov}
    return {"spearman": float(spearmanr(model, human).statistic), "pearson": float(pearsonr(model, human).statistic),
            "oov_ratio": oov}


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
    for method in ("add", "mul"):
        r = evaluate_analogies(vocab, vectors, qs, restrict_vocab, method)
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
