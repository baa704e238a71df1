"""Count-based n-gram language model: interpolated modified Kneser-Ney (KenLM's lmplz estimate) and
interpolated Witten-Bell, with ARPA-style backoff storage.

Counting is vectorised over integer arrays, one order at a time: the n-grams of order n are keyed
as `id(prefix (n-1)-gram) * V + last word`, packed with their position into one int64 and sorted in
place, so memory grows with the text and the number of distinct n-grams, not with the order.
Probabilities are stored as ARPA does (log10 p(w | h) for every seen n-gram, log10 backoff for
every context), so scoring, the full next-token distribution, sampling and ARPA export all read the
same tables. Scoring and next-token distributions run compiled (`kernels.py`, backend="numba") or as
the numpy reference below (backend="numpy"), with identical results.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.core.sizes import parse_size
from seqgen.families.ngram import disk, kernels
from seqgen.families.ngram.estimate import (
    adjusted_counts,
    count_of_counts,
    discounts,
    estimate_on_disk,
    log10_table,
    order_probs,
)
from seqgen.families.ngram.external import count_external

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
INDEX_LIMIT = 1 << 30               # bytes of keys above which no hash index is built
_DISK_BLOCK = 1 << 22              # tokens scored per sweep over the tables when they are maps of files
_PACK_BITS = 63                      # key and position share one int64 while they fit in this many bits


class NGram:
    @dataclass
    class Config:
        order: int = key(3, ge=1)
        smoothing: str = key("mkn", choices=("mkn", "wb"))   # interpolated modified Kneser-Ney | Witten-Bell
        vocab_size: int = 0        # derived: the tokenizer's vocabulary plus <s>, </s> (and <unk>)
        block_size: int = 0        # derived: order - 1 (the context the model looks at)
        blank_lines: bool = False  # fit and score empty lines too (<s> </s>), so the whole text is coded
        # counting in a memory budget (KenLM's lmplz -S / -T): a size such as 4G, 512M or 40%; counts
        # in blocks, spills sorted runs to temp_dir (null: the system's) and merges them; the tables
        # are identical to the in-memory count (the default, null), which is faster when it fits
        memory: str | None = None
        temp_dir: str | None = None

    def __init__(self, config: "NGram.Config", vocab: list[str] | None = None):
        if config.order < 1:
            raise ValueError(f"model.order must be >= 1, got {config.order}")
        if config.smoothing not in ("mkn", "wb"):
            raise ValueError(f"model.smoothing must be 'mkn' or 'wb', got {config.smoothing!r}")
        self.config = config
        config.block_size = max(1, config.order - 1)
        self.vocab = list(vocab) if vocab is not None else None
        self.keys: list[np.ndarray] = []   # per order: sorted int64 keys (order 1: word ids 0..V-1)
        self.logp: list[np.ndarray] = []   # per order: log10 p(w | h), float32
        self.bow: list[np.ndarray] = []    # per order < N: log10 backoff of the n-gram as a context
        self.discounts: list[tuple] = []

    # ---- vocabulary -------------------------------------------------------------------------
    def _specials(self):
        """(<s>, </s>, <unk>) ids, looked up once per vocabulary."""
        if getattr(self, "_special_ids", (None, None))[0] is not self.vocab:
            self._special_ids = (self.vocab, tuple(self.vocab.index(w) for w in (BOS, EOS, UNK)))
        return self._special_ids[1]

    @property
    def V(self) -> int:
        return len(self.vocab)

    def count_table(self, order: int, adjusted: bool = False) -> dict:
        """{(w1, ..., wn): count} of a fitted model's n-grams (for inspection and tests)."""
        table = ngram_words(self)[order - 1]
        counts = (self.adjusted_counts if adjusted else self.raw_counts)[order - 1]
        return {tuple(self.vocab[i] for i in row): float(c) for row, c in zip(table, counts) if c > 0}

    def forward(self, idx):
        """The neural models' protocol: idx (B, T) tensor -> logits (B, T, V), natural-log probabilities
        of the next token after each prefix. Each row is read as the start of a line (after <s>)."""
        bos = self._specials()[0]
        rows = idx.tolist()
        ctx = [[bos] + row[: t + 1] for row in rows for t in range(len(row))]
        lp = next_log10probs(self, ctx) * math.log(10)
        return torch.from_numpy(lp.reshape(idx.shape[0], idx.shape[1], -1))

    __call__ = forward

    # ---- estimation -------------------------------------------------------------------------
    def fit(self, lines, vocab: list[str]) -> "NGram":
        """lines: token-id arrays over `vocab` (which contains <s>, </s>, <unk>), one per sentence; or,
        with model.memory, a callable returning a fresh iterator of them (read once per order)."""
        self.vocab = list(vocab)
        bos, eos, unk = self._specials()
        source = lines if callable(lines) else (lambda: iter(lines))
        if not any(len(x) for x in source()):
            raise DataError("cannot fit an n-gram model on an empty corpus")
        if self.config.memory is not None:
            budget = parse_size(self.config.memory, "model.memory")
            # the tables live in files under temp_dir while the model does (KenLM's -T): removed with it
            folder = Path(tempfile.mkdtemp(prefix="seqgen-ngram-tables-", dir=self.config.temp_dir))
            self._tables = weakref.finalize(self, shutil.rmtree, folder, True)
            self.keys, raw, suffix, first = count_external(source, self.V, self.config.order, bos, eos, budget,
                                                           self.config.temp_dir, folder)
            return estimate_on_disk(self, raw, suffix, first, bos, folder)
        return self._estimate(*self._count(list(source()), bos, eos), bos)

    def _count(self, lines, bos: int, eos: int):
        """Every order's distinct n-grams, one order at a time, in compact arrays.

        Position i of the padded text gets gid[i], the row of the current order's n-gram starting
        there (-1 if it would cross a line end). Order n's keys gid[i] * V + word[i + n - 1] are
        packed with their position into one int64 (key << pbits | i) and sorted in place: equal keys
        become runs, and each run's first entry gives a position of that n-gram (its suffix and first
        word). Returns per order (index n): counts (int32), suffix rows (int32), <s>-initial (bool).
        """
        N, V = self.config.order, self.V
        seq, line_of = _pad_lines(lines, bos, eos)
        P = len(seq)
        last = np.zeros(P, bool)                            # the </s> that ends each line
        last[:-1] = line_of[1:] != line_of[:-1]
        last[-1] = True
        del line_of
        seq = seq.astype(np.int32)
        gid = seq.copy()                                    # order 1: the word itself
        self.keys = [np.arange(V, dtype=np.int64)]
        raw, suffix, first = [None, np.bincount(seq, minlength=V).astype(np.int32)], [None, None], [None, None]
        pbits = max(1, int(P).bit_length())
        for n in range(2, N + 1):
            # the n-gram at i fits in a line iff the (n-1)-gram at i does and does not end the line
            pos = np.flatnonzero((gid[: P - n + 1] >= 0) & ~last[n - 2: P - 1]).astype(np.int32)
            if len(pos) == 0:
                raise DataError(f"no {n}-gram fits in any line (with <s> and </s>, every line is shorter "
                                 f"than {n} tokens): lower model.order")
            packed = gid[pos].astype(np.int64)
            packed *= V
            packed += seq[pos + n - 1]
            packed, pos = _sort_keys(packed, pos, pbits, int(len(self.keys[-1]) * V).bit_length())
            new = np.empty(len(packed), bool)               # the first entry of each key's run
            new[0] = True
            np.not_equal(packed[1:], packed[:-1], out=new[1:])
            runs = np.flatnonzero(new)
            self.keys.append(packed[runs])
            del packed
            raw.append(np.diff(np.append(runs, len(new))).astype(np.int32))
            start = pos[runs]                               # one occurrence of each distinct n-gram
            suffix.append(gid[start + 1])                   # its (n-1)-gram suffix (starts one later)
            first.append(seq[start] == bos)                 # <s>-initial n-grams keep raw counts (KenLM)
            group = np.cumsum(new, dtype=np.int32)
            group -= 1
            del new, runs, start
            gid = np.full(P, -1, np.int32)
            gid[pos] = group
            del pos, group
        return raw, suffix, first

    def _estimate(self, raw, suffix, first, bos):
        """Probabilities and backoffs per order, from the counts of `_count` (freed order by order)."""
        N, V = self.config.order, self.V
        wb = self.config.smoothing == "wb"
        counts = adjusted_counts(raw, suffix, first, bos, kneser_ney=not wb)
        self.raw_counts, self.adjusted_counts = raw[1:], counts[1:]  # kept for inspection, not saved
        probs_lower = None
        self.logp, self.bow, self.discounts = [], [], []
        for n in range(1, N + 1):
            ctx = np.zeros(len(counts[n]), np.int64) if n == 1 else self.keys[n - 1] // V   # prefix rows
            n_ctx = 1 if n == 1 else len(counts[n - 1])
            D = None if wb else discounts(count_of_counts(counts[n]), n)
            if D is not None:
                self.discounts.append(D)
            lower = np.full(len(ctx), 1.0 / (V - 1)) if n == 1 else probs_lower[suffix[n]]
            p, gamma = order_probs(counts[n], ctx, 0, n_ctx, lower, D, wb)
            del lower, ctx
            if n == 1:
                p[bos] = 0.0
            self.logp.append(log10_table(p))
            if n == 1:
                self.logp[0][bos] = -99.0
            if n > 1:
                self.bow.append(log10_table(gamma))
            probs_lower = p
            suffix[n] = None                                # this order's counting is done
        if N == 1:
            self.bow = []
        return self


def _pad_lines(lines, bos: int, eos: int):
    """Concatenate [<s>, tokens..., </s>] per line -> (seq, line index of every position)."""
    lengths = np.array([len(x) + 2 for x in lines], dtype=np.int64)
    seq = np.empty(int(lengths.sum()), dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    seq[starts] = bos
    seq[ends - 1] = eos
    body = np.ones(len(seq), bool)
    body[starts] = body[ends - 1] = False
    seq[body] = np.concatenate([np.asarray(x, dtype=np.int64) for x in lines]) if len(seq) else []
    return seq, np.repeat(np.arange(len(lines)), lengths)


def ngram_words(model: "NGram") -> list[np.ndarray]:
    """Word-id matrix (count, n) of every order's n-grams, in table order."""
    V, out = model.V, [np.arange(model.V)[:, None]]
    for n in range(2, model.config.order + 1):
        keys = model.keys[n - 1]
        out.append(np.hstack([out[-1][keys // V], (keys % V)[:, None]]))
    return out


def lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each query key in sorted keys, or -1."""
    if len(query) > 4096:  # sorted needles walk the table in order: ~2x fewer cache misses
        order = np.argsort(query, kind="stable")
        out = np.empty(len(query), np.int64)
        out[order] = _lookup_sorted(keys, query[order])
        return out
    return _lookup_sorted(keys, query)


def _lookup_sorted(keys, query):
    j = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where((len(keys) > 0) & (keys[j] == query), j, -1)


def _ngram_ids(model: "NGram", seq: np.ndarray, line_of: np.ndarray) -> list[np.ndarray]:
    """ids[k-1][i]: id of the k-gram starting at position i in the model's tables, or -1."""
    V, ids = model.V, [seq.copy()]
    for k in range(2, model.config.order + 1):
        prev = ids[-1]
        cur = np.full(len(seq), -1, np.int64)
        i = np.arange(len(seq) - k + 1)
        ok = (prev[i] >= 0) & (line_of[i] == line_of[i + k - 1])
        find = disk.search if isinstance(model.keys[k - 1], np.memmap) else lookup
        cur[i[ok]] = find(model.keys[k - 1], prev[i[ok]] * V + seq[i[ok] + k - 1])
        ids.append(cur)
    return ids


def score_lines(model: "NGram", lines: list[np.ndarray], return_targets: bool = False, backend: str = "auto"):
    """log10 p of every scored token (each word and one </s> per line), KenLM's backoff rule.
    backend: numba (compiled, kernels.score), numpy (the reference), auto (numba when installed)."""
    bos, eos, unk = model._specials()
    if _tables_outsize_memory(model) and len(lines):
        # tables in files (model.memory): the numpy path (no hash index to build) in blocks of lines,
        # its lookups and gathers as sweeps over the tables (disk.search / disk.take) so RSS stays bounded
        parts, cuts = [], np.cumsum([len(x) + 2 for x in lines])
        bounds = [0, *np.searchsorted(cuts, np.arange(_DISK_BLOCK, int(cuts[-1]), _DISK_BLOCK)) + 1, len(lines)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            if a < b:
                parts.append(_score_numpy(model, lines[a:b], bos, eos))
        logp, tokens = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
    elif _backend(backend) == "numba":
        logp, tokens = kernels.score_lines(model, lines, bos, eos)
    else:
        logp, tokens = _score_numpy(model, lines, bos, eos)
    return (logp, tokens) if return_targets else logp


def _tables_outsize_memory(model) -> bool:
    """Tables that are maps of files (a budgeted fit) or at least INDEX_LIMIT bytes (such a fit's checkpoint,
    which loads as a map): scored and queried without the compiled path's hash index (~4 bytes a slot,
    1.5 slots an n-gram, built by reading every key)."""
    return disk.on_disk(model.keys) or sum(k.nbytes for k in model.keys) >= INDEX_LIMIT


def _take(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return disk.take(table, idx) if isinstance(table, np.memmap) else table[idx]


def _score_numpy(model: "NGram", lines: list[np.ndarray], bos: int, eos: int):
    """(log10 p, token) of every scored token: the numpy reference of kernels.score_lines."""
    seq, line_of = _pad_lines(lines, bos, eos)
    ids = _ngram_ids(model, seq, line_of)
    N = model.config.order
    start = np.searchsorted(line_of, line_of, side="left")   # position of each line's <s>
    t = np.nonzero(np.arange(len(seq)) != start)[0]            # targets: every position after <s>
    hist = t - start[t]                                        # tokens of history available (incl. <s>)
    logp = np.zeros(len(t))
    matched = np.zeros(len(t), bool)

    def gram_at(order_ids, k):
        """ids of the order-len grams that start k-1 before each unmatched target, or -1."""
        fits = (hist >= k - 1) & ~matched
        out = np.full(len(t), -1, np.int64)
        out[fits] = order_ids[t[fits] - k + 1]
        return out

    for k in range(min(N, int(hist.max()) + 1), 0, -1):        # longest n-gram first
        gid = gram_at(ids[k - 1], k)
        hit = gid >= 0
        logp[hit] += _take(model.logp[k - 1], gid[hit])
        matched |= hit
        if k > 1:  # not matched at order k: back off through the context of length k-1
            cid = gram_at(ids[k - 2], k)
            has = cid >= 0
            logp[has] += _take(model.bow[k - 2], cid[has])
    return logp, seq[t]


def perplexity(model: "NGram", lines: list[np.ndarray], backend: str = "auto") -> dict:
    """KenLM's `query` conventions: words plus one </s> per line; OOVs scored as <unk>."""
    bos, eos, unk = model._specials()
    lp, targets = score_lines(model, lines, return_targets=True, backend=backend)
    oov = targets == unk
    n = len(lp)
    out = {"tokens": n, "oov": int(oov.sum()), "log10_sum": float(lp.sum()),
           "ppl": float(10 ** (-lp.sum() / n)),
           "ppl_excl_oov": float(10 ** (-lp[~oov].sum() / max(1, (~oov).sum())))}
    out["bits_per_token"] = float(-lp.sum() / n * math.log2(10))
    return out


def next_log10probs(model: "NGram", contexts, backend: str = "auto") -> np.ndarray:
    """Full next-token distributions, log10 p(w | context) for every w: (B, V) for B contexts.

    A context is a list of token ids; it is read as the end of a line that began with <s> when it
    starts with <s> (or is empty), otherwise as the last order-1 tokens of a longer history.
    backend as in score_lines.
    """
    bos, eos, unk = model._specials()
    N, V = model.config.order, model.V
    if _backend(backend) == "numba" and not _tables_outsize_memory(model):   # no index over such tables
        out = kernels.next_log10probs(model, [list(c)[-(N - 1):] if N > 1 else [] for c in contexts])
        out[:, bos] = -np.inf                                # <s> is never predicted
        return out
    out = np.empty((len(contexts), V), dtype=np.float64)
    for b, ctx in enumerate(contexts):
        ctx = list(ctx)[-(N - 1):] if N > 1 else []
        dist = model.logp[0].astype(np.float64).copy()
        # ids of the context suffixes of length 1..len(ctx) (each must exist for a longer one to)
        for k in range(1, len(ctx) + 1):
            suffix = ctx[len(ctx) - k:]
            g = suffix[0]
            for j in range(1, k):
                g = int(lookup(model.keys[j], np.array([g * V + suffix[j]]))[0]) if g >= 0 else -1
            if g < 0:
                break
            dist += model.bow[k - 1][g]                  # back off everything through this context ...
            lo, hi = np.searchsorted(model.keys[k], [g * V, (g + 1) * V])
            words = model.keys[k][lo:hi] - g * V
            dist[words] = model.logp[k][lo:hi]           # ... except the seen continuations
        out[b] = dist
    out[:, bos] = -np.inf                                # <s> is never predicted
    return out


def _backend(backend: str) -> str:
    if backend not in ("auto", "numba", "numpy"):
        raise ConfigError(f"backend={backend!r}: expected one of ['auto', 'numba', 'numpy']")
    if backend == "numpy":
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        if backend == "numba":
            raise ConfigError("backend=numba needs the numba package: pip install numba") from None
        return "numpy"
    return "numba"


def _sort_keys(packed: np.ndarray, pos: np.ndarray, pbits: int, key_bits: int):
    """Sort an order's keys (int64) with their positions -> (sorted keys, positions in that order).
    Packed into one int64 (key << pbits | pos) and sorted in place when the bits fit; else an argsort."""
    if key_bits + pbits <= _PACK_BITS:
        packed <<= pbits
        packed |= pos
        packed.sort()
        pos = (packed & ((1 << pbits) - 1)).astype(np.int32)
        packed >>= pbits                            # now the sorted keys
        return packed, pos
    order = np.argsort(packed, kind="stable")       # too many bits to pack: more memory, same result
    return packed[order], pos[order]
