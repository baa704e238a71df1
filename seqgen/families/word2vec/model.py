"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling and / or hierarchical
softmax, trained as gensim does.

gensim's recipe: frequent-word subsampling with keep probability
(sqrt(f / (sample * total)) + 1) * sample * total / f; a dynamic window (each centre draws a window
in 1..window); negatives from the unigram^0.75 table; hierarchical softmax over a Huffman tree of the
counts (hs=1); plain SGD with a learning rate decaying linearly from alpha to min_alpha over all
words; CBOW averages the context (cbow_mean) and adds the error to every context vector, like gensim.

Two trainers share this module's vocabulary, tables, initialisation and schedule (`model.backend`):
- numba (the CPU default): `kernels.train_job`, gensim's per-pair SGD compiled without the GIL, on
  ~10k-word jobs that `workers` Python threads take in turn (Hogwild, as gensim's threads do);
- torch (CUDA, and the reference in tests): `torch_sgd`, the examples of ~1M words drawn with array
  operations and updated in mini-batches with index_add_.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from seqgen.core.distributed import resolve_device
from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.families.word2vec import kernels, torch_sgd
from seqgen.families.word2vec.ids import id_blocks, kept_lines

_TABLE = 10_000_000  # unigram-table entries (word2vec.c uses 1e8; 1e7 resolves p >= 1e-7)
_CHUNK = 1 << 20     # words per logged step (and per batch of examples on the torch path)
_JOB = 10_000        # words per compiled job (gensim's batch_words)


class Word2Vec:

    @dataclass
    class Config:
        sg: int = key(1, choices=(0, 1))   # 1: skip-gram, 0: CBOW (gensim's names throughout)
        vector_size: int = key(100, ge=1)
        window: int = key(5, ge=1)
        hs: int = key(0, choices=(0, 1))   # 1: hierarchical softmax over a Huffman tree (alone with negative=0)
        negative: int = key(5, ge=0)       # noise words per example; 0 needs hs=1
        min_count: int = key(5, ge=1)
        max_vocab: int | None = key(None, ge=1)
        sample: float = key(1e-3, ge=0)
        epochs: int = key(5, ge=1)
        alpha: float | None = key(None, gt=0)   # None: 0.025 for skip-gram, 0.05 for CBOW (gensim's defaults)
        min_alpha: float = key(1e-4, ge=0)
        ns_exponent: float = 0.75
        cbow_mean: int = key(1, choices=(0, 1))
        batch_pairs: int | None = key(None, ge=1)  # torch path: examples per mini-batch; None: 1024 skip-gram,
                                                   # 768 CBOW (frequent words' summed updates stay stable)
        workers: int = key(2, ge=1)   # Hogwild threads sharing the vectors (gensim's name); 1 is deterministic
        seed: int = 1
        eval_sets: bool = True     # after training: Google analogies, WordSim-353, SimLex-999
        device: str = "auto"       # auto (CUDA when present) | cpu | cuda
        backend: str = key("auto", choices=("auto", "numba", "torch"))  # auto: numba on the CPU, torch on CUDA
        vocab_size: int = 0        # derived from the corpus (min_count / max_vocab)

    def __init__(self, config: "Word2Vec.Config", vocab: list[str] | None = None):
        if config.sg not in (0, 1):
            raise ValueError(f"model.sg must be 1 (skip-gram) or 0 (CBOW), got {config.sg}")
        if not config.hs and not config.negative:
            raise ConfigError("model.negative=0 leaves no output layer: set model.hs=1 (hierarchical softmax) "
                              "or model.negative >= 1")
        self.config = config
        self.vocab = list(vocab or [])
        self.counts = np.zeros(len(self.vocab), np.int64)
        self.vectors = self.syn1neg = self.syn1 = None
        self.history: list[dict] = []
        self._huffman = self._huffman_padded = None

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
        self._huffman = self._huffman_padded = None    # trees of the previous counts
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

    def noise_table(self) -> np.ndarray:
        """word2vec.c's unigram table (_TABLE,): drawing an entry uniformly samples unigram^0.75."""
        edges = (np.arange(_TABLE) + 0.5) / _TABLE
        return np.minimum(np.searchsorted(np.cumsum(self.noise_distribution()), edges), len(self.counts) - 1)

    def huffman(self):
        """The Huffman tree of the counts (hierarchical softmax, as word2vec.c and gensim build it):
        (ptr (V + 1,) int64, points (P,) int32, labels (P,) int8). Word w's path from the root runs
        over the inner nodes points[ptr[w]:ptr[w + 1]] (rows of syn1, 0..V-2), labels = 1 - code."""
        if self._huffman is None:
            self._huffman = huffman_tree(self.counts)
        return self._huffman

    def huffman_padded(self):
        """The paths as (V, L) tensors for the torch path: points (long), labels and mask (float)."""
        if self._huffman_padded is None:
            ptr, points, labels = self.huffman()
            depth = np.diff(ptr)
            V, L = len(depth), max(1, int(depth.max(initial=0)))
            mask = np.arange(L)[None, :] < depth[:, None]                   # (V, L)
            P, Y = np.zeros((V, L), np.int64), np.zeros((V, L), np.float32)
            P[mask], Y[mask] = points, labels
            self._huffman_padded = torch.from_numpy(P), torch.from_numpy(Y), torch.from_numpy(mask.astype(np.float32))
        return self._huffman_padded

    # ---- training ---------------------------------------------------------------------------
    def fit(self, lines: list[list[str]], log=None, log_step=None, resume: dict | None = None,
            on_epoch=None) -> "Word2Vec":
        """Build the vocabulary from tokenised lines and train for config.epochs epochs.

        log(record) is called after every epoch, log_step(record) after every ~1M-word chunk,
        on_epoch(epochs_done, generator) after every epoch but the last (it may save and stop).
        resume: a fit stopped after resume["epoch"] epochs ({"epoch", "rng", "history"} plus the
        saved state(): vocab, counts, vectors, syn1neg, syn1) continues from there; the numba path's
        draws depend only on (seed, epoch, job) and the torch path's generator is restored, so the
        result equals an uninterrupted fit. A vocabulary that differs (edited text) starts afresh.
        """
        self.build_vocab(lines)
        ids = self.encode(lines)
        lengths = np.array([len(x) for x in ids], np.int64)
        seq = np.concatenate(ids) if len(ids) else np.zeros(0, np.int64)
        return self._train(seq, lengths, log, log_step, resume, on_epoch)

    def fit_ids(self, ids: np.ndarray, spans, itos: list[str], drop: int | None = None, log=None,
                log_step=None, resume: dict | None = None, on_epoch=None) -> "Word2Vec":
        """fit() on a word tokenizer's ids (a prepared split), read in blocks of word2vec.ids.BLOCK ids so that only
        the int32 training sequence is held, never an int64 copy of the corpus: ids (tokens,) any
        integer dtype (a np.memmap is read from its file), spans (starts, ends) the lines' token
        positions, itos the tokenizer's words, drop an id never trained on (the line break). The
        vocabulary, ids and training are those of fit() on the same words (resume and on_epoch as there)."""
        c = self.config
        counts = np.zeros(len(itos), np.int64)
        for _, block in id_blocks(ids):
            counts += np.bincount(block, minlength=len(itos))
        cand = [i for i in np.flatnonzero(counts >= c.min_count).tolist() if i != drop]
        order = sorted(cand, key=lambda i: (-counts[i], itos[i]))
        if c.max_vocab:
            order = order[: c.max_vocab]
        if not order:
            raise DataError(f"no word occurs min_count={c.min_count} times: lower model.min_count")
        self.vocab = [itos[i] for i in order]
        self.counts = counts[order].astype(np.int64)
        self._huffman = self._huffman_padded = None
        self.config.vocab_size = len(self.vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        lut = np.full(len(itos), -1, np.int32)
        lut[order] = np.arange(len(order), dtype=np.int32)   # words outside the vocabulary are dropped
        seq, lengths = kept_lines(ids, lut, spans, int(self.counts.sum()))
        return self._train(seq, lengths, log, log_step, resume, on_epoch)

    def _train(self, seq: np.ndarray, lengths: np.ndarray, log=None, log_step=None, resume: dict | None = None,
               on_epoch=None) -> "Word2Vec":
        c = self.config
        V, D = len(self.vocab), c.vector_size
        backend, dev = self.resolve_backend()
        g = torch.Generator().manual_seed(c.seed)
        # gensim's initialisation: input vectors uniform in +-0.5/D, output vectors zero;
        # random draws stay on the CPU generator (same seed, same examples on any device)
        self.vectors = ((torch.rand(V, D, generator=g) - 0.5) / D).to(dev)
        self.syn1neg = torch.zeros(V, D, device=dev) if c.negative else None
        self.syn1 = torch.zeros(max(0, V - 1), D, device=dev) if c.hs else None
        first = self.start_epoch = self._resume(resume, g, dev) if resume is not None else 0
        if backend == "numba":
            train = self._numba_trainer(seq, lengths)
        else:
            train = self._torch_trainer(seq, lengths, g)
        alpha = c.alpha or (0.025 if c.sg else 0.05)
        total_words, done = c.epochs * len(seq), first * len(seq)
        for epoch in range(first, c.epochs):
            t0, c0, loss_sum, n_pairs, n_words = time.perf_counter(), time.process_time(), 0.0, 0, 0
            for lo, hi in train.chunks:          # ~1M words each: one logged step
                lr_hi = alpha - (alpha - c.min_alpha) * done / total_words
                done += hi - lo
                lr_lo = alpha - (alpha - c.min_alpha) * done / total_words
                ls, npairs, kept = train(epoch, lo, hi, lr_hi, lr_lo)
                loss_sum += ls
                n_pairs += npairs
                n_words += kept
                if log_step:
                    log_step({"loss": ls / max(1, npairs), "lr": lr_lo, "progress": done / total_words})
            dt = time.perf_counter() - t0
            rec = {"epoch": epoch + 1, "loss": loss_sum / max(1, n_pairs), "words_per_s": n_words / dt,
                   "pairs": n_pairs, "seconds": dt, "cpu_seconds": time.process_time() - c0}
            if not math.isfinite(rec["loss"]):
                hint = f"model.batch_pairs (now {self.batch_size}) or " if backend == "torch" else ""
                raise FloatingPointError(f"word2vec diverged in epoch {epoch + 1} (loss {rec['loss']}): lower "
                                         f"{hint}model.alpha")
            self.history.append(rec)
            if log:
                log(rec)
            if on_epoch and epoch + 1 < c.epochs:
                on_epoch(epoch + 1, g)
        return self

    def _resume(self, resume: dict, g: torch.Generator, dev) -> int:
        """Vectors, history and RNG of a stopped fit over the same vocabulary -> the epoch to go on
        from (0, fitting from the start, when the vocabulary differs)."""
        c = self.config
        if not (list(resume["vocab"]) == self.vocab and np.array_equal(np.asarray(resume["counts"]), self.counts)):
            print("[seqgen] word2vec: the vocabulary differs from the stopped fit's (edited text?): fitting "
                  "from the start", flush=True)
            return 0
        first, self.history = int(resume["epoch"]), list(resume.get("history", []))
        self.vectors = resume["vectors"].to(dev).clone()
        self.syn1neg = resume["syn1neg"].to(dev).clone() if c.negative else None
        self.syn1 = resume["syn1"].to(dev).clone() if c.hs else None
        g.set_state(resume["rng"])
        print(f"[seqgen] word2vec: resuming after epoch {first} of {c.epochs}", flush=True)
        return first

    @property
    def batch_size(self) -> int:
        """The torch path's examples per mini-batch."""
        return self.config.batch_pairs or (1024 if self.config.sg else 768)

    def resolve_backend(self):
        """(numba | torch, device): auto is numba on the CPU and torch on CUDA."""
        c = self.config
        if c.backend == "numba":
            if c.device not in ("auto", "cpu"):
                raise ConfigError(f"model.backend=numba trains on the CPU, not model.device={c.device}: use "
                                  f"model.backend=torch (or auto) for a GPU")
            _require_numba()
            return "numba", torch.device("cpu")
        dev = resolve_device(c.device, "model.device")
        if c.backend == "torch" or dev.type != "cpu":
            return "torch", dev
        try:
            _require_numba()
        except ConfigError as e:
            warnings.warn(f"{e}; training with the slower torch path (model.backend=torch)", stacklevel=3)
            return "torch", dev
        return "numba", dev

    def _torch_trainer(self, seq, lengths, g):
        """The torch path per chunk: subsample, draw the examples, mini-batch SGD."""
        c = self.config
        line_of = np.repeat(np.arange(len(lengths)), lengths)
        keep = torch.from_numpy(self.keep_probs())
        noise_table = torch.from_numpy(self.noise_table())

        def train(epoch, lo, hi, lr_hi, lr_lo):
            chunk, lines_c = torch.from_numpy(seq[lo:hi].astype(np.int64)), torch.from_numpy(line_of[lo:hi])
            kept = torch.rand(len(chunk), generator=g) < keep[chunk]
            words, wl = chunk[kept], lines_c[kept]
            centers, contexts = torch_sgd.pairs(wl, c.window, g, cbow=not c.sg)
            ls, n = torch_sgd.train_chunk(self, words, centers, contexts, noise_table, g, lr_hi, lr_lo)
            return ls, n, len(words)

        train.chunks = [(lo, min(lo + _CHUNK, len(seq))) for lo in range(0, len(seq), _CHUNK)]
        return train

    def _numba_trainer(self, seq, lengths):
        """The compiled path per chunk: `workers` threads take its ~10k-word jobs in turn and run
        kernels.train_job on each (the GIL is released inside, so the threads run in parallel)."""
        c, D = self.config, self.config.vector_size
        seq32 = np.ascontiguousarray(seq, dtype=np.int32)   # no copy when fit_ids made it int32
        starts = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        jobs = job_bounds(starts, _JOB)
        edges = np.unique(np.searchsorted(jobs, np.append(np.arange(0, len(seq), _CHUNK), len(seq))))
        keep = self.keep_probs().astype(np.float64)
        thr, alias = kernels.alias_table(self.noise_table().astype(np.int32), len(self.vocab)) if c.negative else (
            np.zeros(1, np.int32), np.zeros(1, np.int32))
        hs_ptr, hs_points, hs_labels = self.huffman() if c.hs else (
            np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int8))
        empty = np.zeros((0, D), np.float32)
        syn0 = self.vectors.numpy()                      # views: the kernel updates the tensors in place
        syn1neg = self.syn1neg.numpy() if c.negative else empty
        syn1 = self.syn1.numpy() if c.hs else empty

        def train(epoch, lo, hi, lr_hi, lr_lo):
            j0, j1 = (int(np.searchsorted(jobs, x)) for x in (lo, hi))
            stats = np.zeros((j1 - j0, 3))              # per job: loss, examples, kept words
            todo, lock = iter(range(j0, j1)), threading.Lock()

            def work():
                while True:
                    with lock:
                        j = next(todo, None)
                    if j is None:
                        return
                    seed = (c.seed * 1_000_003 + epoch) * 1_000_003 + j     # a job's draws: (seed, epoch, job)
                    kernels.train_job(syn0, syn1neg, syn1, seq32, starts, jobs[j], jobs[j + 1], keep, thr, alias,
                                      _TABLE, hs_ptr, hs_points, hs_labels, c.sg, c.cbow_mean, c.window,
                                      c.negative, lr_hi, lr_lo, lo, max(1, hi - lo), seed % (1 << 63), stats[j - j0])

            pool = [threading.Thread(target=work) for _ in range(min(c.workers, j1 - j0))]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            loss, n, kept = stats.sum(0)
            return float(loss), int(n), int(kept)

        train.chunks = [(int(jobs[a]), int(jobs[b])) for a, b in zip(edges[:-1], edges[1:])]
        return train

    # ---- persistence ------------------------------------------------------------------------
    def state(self) -> dict:
        out = {"vocab": list(self.vocab), "counts": torch.from_numpy(self.counts), "vectors": self.vectors.cpu()}
        if self.syn1neg is not None:
            out["syn1neg"] = self.syn1neg.cpu()
        if self.syn1 is not None:
            out["syn1"] = self.syn1.cpu()
        return out

    @classmethod
    def from_state(cls, config: "Word2Vec.Config", state: dict) -> "Word2Vec":
        model = cls(config, state["vocab"])
        model.counts = state["counts"].numpy()
        model.vectors, model.syn1neg, model.syn1 = state["vectors"], state.get("syn1neg"), state.get("syn1")
        model.index = {w: i for i, w in enumerate(model.vocab)}
        return model


def huffman_tree(counts: np.ndarray):
    """Huffman codes of V words from their counts -> (ptr, points, labels), see Word2Vec.huffman.
    Inner node k (0..V-2) merges the two lightest nodes left (ties: the earlier node); the root is
    V-2. A word's code bit is 1 where its path takes the heavier child."""
    V = len(counts)
    heap = [(int(n), i) for i, n in enumerate(counts)]     # node ids: words 0..V-1, inner V..2V-2
    heapq.heapify(heap)
    parent, bit = np.zeros(max(0, 2 * V - 2), np.int64), np.zeros(max(0, 2 * V - 2), np.int8)
    for k in range(V - 1):
        (na, a), (nb, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a] = parent[b] = V + k
        bit[b] = 1
        heapq.heappush(heap, (na + nb, V + k))
    paths, codes = [], []
    for w in range(V):                                     # walk up, then read root -> word
        node, p, b = w, [], []
        while node < 2 * V - 2:
            p.append(parent[node] - V)
            b.append(bit[node])
            node = parent[node]
        paths.append(p[::-1])
        codes.append(b[::-1])
    ptr = np.zeros(V + 1, np.int64)
    ptr[1:] = np.cumsum([len(p) for p in paths])
    points = np.array([x for p in paths for x in p], np.int32)
    labels = 1 - np.array([x for b in codes for x in b], np.int8)
    return ptr, points, labels


def job_bounds(starts: np.ndarray, size: int) -> np.ndarray:
    """Job edges over the corpus (n_jobs + 1,): about `size` words each, cut at line starts, except
    that a line longer than a job is cut into jobs of its own (gensim splits long texts likewise)."""
    n = int(starts[-1])
    targets = np.arange(0, n, size)
    snapped = starts[np.minimum(np.searchsorted(starts, targets), len(starts) - 1)]
    cut = np.where(snapped - targets < size, snapped, targets)
    return np.unique(np.append(np.clip(cut, 0, n), [0, n]))


def _require_numba():
    try:
        import numba  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"model.backend=numba needs the numba package ({e}): pip install numba") from None
