"""Evaluation metrics: loss, perplexity, bits per token and per character. Returns dicts; never logs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqgen.data.text import eval_windows


@torch.no_grad()
def evaluate_lm(model, tokens, block_size: int, batch_size: int, device, max_batches: int | None = None,
                chars_per_token: float | None = None, prefix: str = "val") -> dict:
    """Mean next-token cross-entropy over ordered windows of a split.

    bits per character = (nats per token) / ln 2 / (characters per token): comparable across
    tokenizers because every tokenizer here covers the same characters.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in eval_windows(tokens, block_size, batch_size, max_batches):
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                               ignore_index=-1, reduction="sum")
        total += loss.item()
        count += int((y >= 0).sum())
    model.train(was_training)
    nats = total / max(1, count)
    out = {f"{prefix}/loss": nats, f"{prefix}/ppl": math.exp(min(nats, 50.0)),
           f"{prefix}/bits_per_token": nats / math.log(2)}
    if chars_per_token:
        out[f"{prefix}/bpc"] = nats / math.log(2) / chars_per_token
    return out


# ---- word vectors: nearest neighbours, analogies, word-pair similarity --------------------------

class VocabularyError(KeyError):
    def __str__(self):
        return str(self.args[0])


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
    correct = 0
    for s in range(0, len(qs), 2048):
        ids = torch.tensor([[index[w] for w in q[1:]] for q in qs[s:s + 2048]])
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


# ---- 4x upsampling: baselines and metrics -------------------------------------------------------

def upsample_nearest_baseline(lo, factor: int = 4):
    """(N, h, w) -> (N, h*f, w*f): every low-res pixel repeated over its block."""
    from seqgen.data.images.codec import upsample_nearest

    return upsample_nearest(lo, factor)


def upsample_bicubic_baseline(lo, codec, factor: int = 4):
    """(N, h, w) -> (N, h*f, w*f): palette colours, bicubic resize in RGB, quantized back to the palette."""
    import numpy as np
    from PIL import Image

    out = []
    for im in np.asarray(lo):
        rgb = Image.fromarray(codec.dequantize(im))
        big = rgb.resize((im.shape[1] * factor, im.shape[0] * factor), Image.BICUBIC)
        out.append(codec.quantize(np.asarray(big)))
    return np.stack(out)


def upsample_metrics(pred, truth, lo, codec, factor: int = 4) -> dict:
    """Token accuracy vs ground truth, PSNR in RGB (over all pixels of all images, dB), consistency
    (fraction of low-res pixels that the 4x rule recovers from the prediction)."""
    import numpy as np

    from seqgen.data.images.codec import reduce_blocks

    pred, truth, lo = np.asarray(pred), np.asarray(truth), np.asarray(lo)
    mse = float(((codec.dequantize(pred).astype(np.float64) - codec.dequantize(truth)) ** 2).mean())
    return {"token_accuracy": float((pred == truth).mean()),
            "psnr": 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf"),
            "consistency": float((reduce_blocks(pred.astype(np.uint8), factor) == lo).mean())}
