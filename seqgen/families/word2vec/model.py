"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, trained as gensim does.

gensim's recipe, vectorised: frequent-word subsampling with keep probability
(sqrt(f / (sample * total)) + 1) * sample * total / f; a dynamic window (each centre draws a window
in 1..window); negatives from the unigram^0.75 table; plain SGD with a learning rate decaying
linearly from alpha to min_alpha over all words; CBOW averages the context (cbow_mean) and adds the
error to every context vector, like gensim. Instead of one pair at a time, pairs are generated for a
whole chunk of the corpus with array operations and updated in mini-batches with index_add_ (which
sums the updates of repeated words within a batch, as Hogwild threads would interleave them).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from seqgen.core.distributed import resolve_device
from seqgen.core.errors import DataError
from seqgen.core.schema import key

_TABLE = 10_000_000  # unigram-table entries (word2vec.c uses 1e8; 1e7 resolves p >= 1e-7)


class Word2Vec:

    @dataclass
    class Config:
        sg: int = key(1, choices=(0, 1))   # 1: skip-gram, 0: CBOW (gensim's names throughout)
        vector_size: int = key(100, ge=1)
        window: int = key(5, ge=1)
        negative: int = key(5, ge=1)
        min_count: int = key(5, ge=1)
        max_vocab: int | None = key(None, ge=1)
        sample: float = key(1e-3, ge=0)
        epochs: int = key(5, ge=1)
        alpha: float | None = key(None, gt=0)   # None: 0.025 for skip-gram, 0.05 for CBOW (gensim's defaults)
        min_alpha: float = key(1e-4, ge=0)
        ns_exponent: float = 0.75
        cbow_mean: int = key(1, choices=(0, 1))
        batch_pairs: int | None = key(None, ge=1)  # examples per SGD mini-batch; None: 1024 skip-gram, 768 CBOW
                                                   # (small enough that frequent words' summed updates stay stable)
        workers: int = key(2, ge=1)   # Hogwild threads sharing the vectors (gensim's name); 1 is deterministic
        seed: int = 1
        eval_sets: bool = True     # after training: Google analogies, WordSim-353, SimLex-999
        device: str = "auto"       # auto (CUDA when present) | cpu | cuda
        vocab_size: int = 0        # derived from the corpus (min_count / max_vocab)

    def __init__(self, config: "Word2Vec.Config", vocab: list[str] | None = None):
        if config.sg not in (0, 1):
            raise ValueError(f"model.sg must be 1 (skip-gram) or 0 (CBOW), got {config.sg}")
        self.config = config
        self.vocab = list(vocab or [])
        self.counts = np.zeros(len(self.vocab), np.int64)
        self.vectors = self.syn1neg = None
        self.history: list[dict] = []

    # ---- vocabulary -------------------------------------------------------------------------
    def build_vocab(self, lines: list[list[str]]):
        c = self.config
        counts = Counter(w for ln in lines for w in ln)
        words = sorted((w for w, n in counts.items() if n >= c.min_count), key=lambda w: (-counts[w], w))
        if c.max_vocab:
            words = words[: c.max_vocab]
        if not words:
            raise DataError(f"no word occurs min_count={c.min_count} times: lower model.min_count")
        self.vocab = words
        self.counts = np.array([counts[w] for w in words], np.int64)
        self.config.vocab_size = len(words)
        self.index = {w: i for i, w in enumerate(words)}
        return self

    def encode(self, lines: list[list[str]]) -> list[np.ndarray]:
        """Word ids per line; words outside the vocabulary are dropped (gensim's behaviour)."""
        get = self.index.get
        return [np.array([i for i in (get(w) for w in ln) if i is not None], np.int64) for ln in lines]

    def keep_probs(self) -> np.ndarray:
        """gensim / word2vec.c subsampling: keep probability of each vocabulary word."""
        total = self.counts.sum()
        if not self.config.sample:
            return np.ones(len(self.counts))
        t = self.config.sample * total
        return np.minimum(1.0, (np.sqrt(self.counts / t) + 1) * t / self.counts)

    def noise_distribution(self) -> np.ndarray:
        p = self.counts.astype(np.float64) ** self.config.ns_exponent
        return p / p.sum()

    # ---- training ---------------------------------------------------------------------------
    def fit(self, lines: list[list[str]], log=None, log_step=None) -> "Word2Vec":
        """Build the vocabulary from tokenised lines and train for config.epochs epochs.

        log(record) is called after every epoch, log_step(record) after every ~1M-word chunk.
        """
        c = self.config
        self.build_vocab(lines)
        ids = self.encode(lines)
        lengths = np.array([len(x) for x in ids])
        seq = np.concatenate(ids) if len(ids) else np.zeros(0, np.int64)
        line_of = np.repeat(np.arange(len(ids)), lengths)
        V, D = len(self.vocab), c.vector_size
        g = torch.Generator().manual_seed(c.seed)
        # gensim's initialisation: input vectors uniform in +-0.5/D, output vectors zero
        dev = resolve_device(c.device, "model.device")
        # random draws stay on the CPU generator (same seed, same examples on any device)
        self.vectors = ((torch.rand(V, D, generator=g) - 0.5) / D).to(dev)
        self.syn1neg = torch.zeros(V, D, device=dev)
        keep = torch.from_numpy(self.keep_probs())
        # word2vec.c's unigram table: drawing an index into it samples unigram^0.75 in O(1)
        noise_table = torch.from_numpy(np.minimum(np.searchsorted(
            np.cumsum(self.noise_distribution()), (np.arange(_TABLE) + 0.5) / _TABLE), V - 1))
        alpha = c.alpha or (0.025 if c.sg else 0.05)
        total_words, done = c.epochs * len(seq), 0
        for epoch in range(c.epochs):
            t0, loss_sum, n_pairs, n_words = time.perf_counter(), 0.0, 0, 0
            # one chunk of ~1M words at a time keeps the pair arrays small
            for lo in range(0, len(seq), 1 << 20):
                chunk, lines_c = torch.from_numpy(seq[lo:lo + (1 << 20)]), torch.from_numpy(line_of[lo:lo + (1 << 20)])
                kept = torch.rand(len(chunk), generator=g) < keep[chunk]
                words, wl = chunk[kept], lines_c[kept]
                centers, contexts = _pairs(wl, c.window, g, cbow=not c.sg)
                n_words += len(words)
                lr_hi = alpha - (alpha - c.min_alpha) * done / total_words
                done += len(chunk)
                lr_lo = alpha - (alpha - c.min_alpha) * done / total_words
                ls, npairs = self._train_chunk(words, centers, contexts, noise_table, g, lr_hi, lr_lo)
                loss_sum += ls
                n_pairs += npairs
                if log_step:
                    log_step({"loss": ls / max(1, npairs), "lr": lr_lo, "progress": done / total_words})
            dt = time.perf_counter() - t0
            rec = {"epoch": epoch + 1, "loss": loss_sum / max(1, n_pairs), "words_per_s": n_words / dt,
                   "pairs": n_pairs, "seconds": dt}
            if not math.isfinite(rec["loss"]):
                raise FloatingPointError(f"word2vec diverged in epoch {epoch + 1} (loss {rec['loss']}): lower "
                                         f"model.batch_pairs (now {self.batch_size}) or model.alpha")
            self.history.append(rec)
            if log:
                log(rec)
        return self

    def _train_chunk(self, words, centers, contexts, noise_table, g, lr_hi, lr_lo):
        """SGD over the chunk's examples in mini-batches; returns (summed loss, examples).

        Everything that does not depend on the vectors (targets, negatives, inputs) is drawn for the
        whole chunk first, so the mini-batch loop is gathers, two small bmm and two index_add_.
        Small batches (1024 pairs) keep a frequent word's summed updates close to sequential SGD.
        """
        c = self.config
        n, K = len(centers), c.negative
        B = self.batch_size
        negs = noise_table[torch.randint(0, len(noise_table), (n, K), generator=g)]
        tgt = words[centers]
        out_all = torch.cat([tgt[:, None], negs], 1)                         # (n, 1+K): target, negatives
        # a negative that happens to be the target is skipped (gensim does the same)
        keep_all = torch.cat([torch.ones(n, 1), (negs != tgt[:, None]).float()], 1)
        if c.sg:
            in_all = words[contexts]                                         # (n,) input words
        else:
            # CBOW contexts as flat (example, word) rows, only the real ones (~60% of the 2W slots):
            # example e's rows are ctx_rows[offsets[e]:offsets[e+1]]
            valid = contexts >= 0                                            # (n, 2W)
            ex, slot = valid.nonzero(as_tuple=True)
            counts = valid.sum(1)
            offsets = torch.zeros(n + 1, dtype=torch.long)
            offsets[1:] = counts.cumsum(0)
            mask_all = (ex, words[contexts[ex, slot]], offsets, counts.float().clamp(min=1))
            in_all = None
        label = torch.zeros(1, K + 1)
        label[0, 0] = 1.0
        sign = 2 * label - 1                                                 # +1 target, -1 negatives
        dev = self.vectors.device
        if dev.type != "cpu":  # one transfer per chunk; the mini-batch loop then runs on the GPU
            out_all, keep_all, label, sign = (t.to(dev) for t in (out_all, keep_all, label, sign))
            if c.sg:
                in_all = in_all.to(dev)
            else:
                mask_all = tuple(t.to(dev) for t in mask_all)
        # Hogwild: threads take interleaved stretches; torch ops release the GIL
        if c.workers > 1 and dev.type == "cpu":
            import threading

            losses = [0.0] * c.workers
            threads_before = torch.get_num_threads()
            torch.set_num_threads(1)

            def work(w):
                losses[w] = self._sgd(out_all, keep_all, in_all, None if c.sg else mask_all, label, sign, lr_hi, lr_lo,
                                      range(w * B, n, c.workers * B))

            pool = [threading.Thread(target=work, args=(w,)) for w in range(c.workers)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            torch.set_num_threads(threads_before)
            return sum(losses), n
        return self._sgd(out_all, keep_all, in_all, None if c.sg else mask_all, label, sign, lr_hi, lr_lo,
                         range(0, n, B)), n

    @property
    def batch_size(self) -> int:
        return self.config.batch_pairs or (1024 if self.config.sg else 768)

    def _sgd(self, out_all, keep_all, in_all, mask_all, label, sign, lr_hi, lr_lo, starts) -> float:
        c, B, D, n = self.config, self.batch_size, self.config.vector_size, len(out_all)
        loss = torch.zeros((), dtype=torch.float64, device=self.vectors.device)
        for s in starts:
            lr = lr_hi + (lr_lo - lr_hi) * s / max(1, n)
            out_ids = out_all[s:s + B]
            if c.sg:
                in_ids = in_all[s:s + B]
                h = self.vectors[in_ids]                                     # (b, D)
            else:
                ex_all, rows_all, offsets, cnt_all = mask_all
                lo, hi = int(offsets[s]), int(offsets[min(s + B, n)])
                ex, rows, cnt = ex_all[lo:hi] - s, rows_all[lo:hi], cnt_all[s:s + B, None]
                h = torch.zeros(len(out_ids), D, device=out_ids.device).index_add_(0, ex, self.vectors[rows])
                if c.cbow_mean:
                    h = h / cnt
            out = self.syn1neg[out_ids]                                      # (b, 1+K, D)
            score = torch.bmm(out, h[:, :, None]).squeeze(2)                 # (b, 1+K)
            # -log s(pos) - sum log s(-neg), accumulated in float64 so it never saturates
            keep = keep_all[s:s + B]
            loss -= (torch.nn.functional.logsigmoid(score * sign) * keep).sum().double()
            gscale = (label - torch.sigmoid(score)) * keep * lr              # (b, 1+K)
            grad_h = torch.bmm(gscale[:, None, :], out).squeeze(1)           # (b, D)
            self.syn1neg.index_add_(0, out_ids.reshape(-1), (gscale[..., None] * h[:, None, :]).reshape(-1, D))
            if c.sg:
                self.vectors.index_add_(0, in_ids, grad_h)
            else:  # gensim adds the whole error to every context word when averaging
                if not c.cbow_mean:
                    grad_h = grad_h / cnt
                self.vectors.index_add_(0, rows, grad_h[ex])
        return float(loss)

    # ---- persistence ------------------------------------------------------------------------
    def state(self) -> dict:
        return {"vocab": list(self.vocab), "counts": torch.from_numpy(self.counts),
                "vectors": self.vectors.cpu(), "syn1neg": self.syn1neg.cpu()}

    @classmethod
    def from_state(cls, config: "Word2Vec.Config", state: dict) -> "Word2Vec":
        model = cls(config, state["vocab"])
        model.counts = state["counts"].numpy()
        model.vectors, model.syn1neg = state["vectors"], state["syn1neg"]
        model.index = {w: i for i, w in enumerate(model.vocab)}
        return model


def _pairs(line_ids: torch.Tensor, window: int, g: torch.Generator, cbow: bool):
    """Training examples over the kept words of a chunk (positions into it).

    Skip-gram: (centre, context) position pairs within each centre's dynamic window, same line only.
    CBOW: centres and a (n, 2*window) matrix of context positions (-1 = none).
    """
    n = len(line_ids)
    eff = window - torch.randint(0, window, (n,), generator=g)  # each centre's window in 1..window
    pos = torch.arange(n)
    if cbow:
        cols = []
        for d in list(range(-window, 0)) + list(range(1, window + 1)):
            j = pos + d
            ok = (j >= 0) & (j < n) & (abs(d) <= eff)
            ok[ok.clone()] &= line_ids[j[ok]] == line_ids[pos[ok]]
            cols.append(torch.where(ok, j, torch.full_like(j, -1)))
        ctx = torch.stack(cols, 1)
        has = (ctx >= 0).any(1)
        return pos[has], ctx[has]
    cs, xs = [], []
    for d in range(1, window + 1):
        for sign in (1, -1):
            j = pos + sign * d
            ok = (j >= 0) & (j < n) & (d <= eff)
            ok[ok.clone()] &= line_ids[j[ok]] == line_ids[pos[ok]]
            cs.append(pos[ok])
            xs.append(j[ok])
    centers, contexts = torch.cat(cs), torch.cat(xs)
    # order by centre so the learning-rate decay and updates follow the text, as in gensim
    order = torch.argsort(centers, stable=True)
    return centers[order], contexts[order]
