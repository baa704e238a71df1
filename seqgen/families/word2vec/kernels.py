"""Compiled word2vec updates (numba, GIL-free): gensim's per-pair SGD as loops over one job of text.

The worker threads of `model.py` each call `train_job` on ~10k-word jobs of the corpus; the kernel
releases the GIL (`nogil=True`), so two threads update the shared vectors in parallel without locks,
as gensim's Cython routines and word2vec.c's threads do (Hogwild). Inside a job, everything follows
the torch reference path: subsampling with the keep probabilities of `Word2Vec.keep_probs`, a window
drawn per centre in 1..window, negatives from the same unigram^0.75 table (through alias tables that
reproduce its distribution exactly without reading 40 MB at random; a draw equal to the target is
skipped), the learning rate interpolated linearly by position, CBOW's mean of the context with the
whole error added to every context word, and the loss -log s(+-score) summed in float64.

One SGD example = an input vector h (a context word's row of syn0, or the CBOW sum / mean) and its
outputs: the target and `negative` noise words against syn1neg (labels 1, 0, ...) and / or, with
hierarchical softmax, the inner nodes on the target's Huffman path against syn1 (labels 1 - code).
`_example` computes every output's score from the rows as they are, then updates them: the same
order as the torch reference with one example per mini-batch (`train_examples` runs that exact
computation on examples drawn by the reference, which the tests compare).

Random numbers come from a splitmix64 stream per job, seeded by (seed, epoch, job): a job draws the
same subsample, windows and negatives whichever thread runs it. With one worker training is
deterministic; with more, only the interleaving of updates (Hogwild's races) differs between runs.

Shapes: syn0, syn1neg (V, D) and syn1 (V - 1, D) float32, C-contiguous (an unused one (0, D)); seq
(n_words,) int32 word ids of the whole corpus; line_starts (n_lines + 1,) int64 offsets into seq;
keep (V,) float64; thr, alias (V,) int32 (alias_table); hs_ptr (V + 1,) int64, hs_points (P,) int32,
hs_labels (P,) int8 (Word2Vec.huffman; hs_ptr of length 1 when hs=0).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# reassoc lets LLVM vectorise the D-long dot products and updates (AVX-512 on these machines), as a
# BLAS sdot / saxpy would; contract allows fused multiply-adds. No flag that assumes finite values:
# a diverged run must still produce the inf / nan that fit() reports.
_JIT = dict(nogil=True, cache=True, fastmath={"reassoc", "contract"})

_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 9007199254740992.0   # 2**-53: 53 random bits -> a double in [0, 1)


def alias_table(table: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias tables (thr, alias), (V,) int32 each, for drawing an entry of the unigram table
    (T,) uniformly: in integer units of 1 / (V T), bucket i holds thr[i] / T of word i and the rest of
    alias[i]; every word's total is its number of entries times V, so the draw is exact (Vose's
    construction with integers; no float rounding)."""
    T = len(table)
    mass = np.bincount(table, minlength=V).astype(np.int64) * V      # per word, in units of 1 / (V T)
    thr, alias = np.full(V, T, np.int64), np.arange(V, dtype=np.int64)
    small = [i for i in range(V) if mass[i] < T]
    large = [i for i in range(V) if mass[i] >= T]
    while small and large:
        s, g = small.pop(), large[-1]
        thr[s], alias[s] = mass[s], g                                # bucket s: its own mass, topped up by g
        mass[g] -= T - mass[s]
        if mass[g] < T:
            small.append(large.pop())
    return thr.astype(np.int32), alias.astype(np.int32)


@njit(**_JIT)
def _rand(state):
    """splitmix64: (new state, 64 random bits); both uint64."""
    state = state + _GOLDEN
    z = (state ^ (state >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(**_JIT)
def _below(state, n):
    """(new state, a number in [0, n)): 53 random bits scaled to n (bias below n / 2**53)."""
    state, bits = _rand(state)
    return state, min(np.int64((bits >> _S11) * _UNIT * n), n - 1)


@njit(**_JIT)
def _noise(state, thr, alias, T):
    """(new state, a noise word): a draw from the unigram table through Walker's alias method.
    Bucket i of V keeps word i for t < thr[i] of its T slots and gives the rest to alias[i], so a
    uniform (bucket, slot) lands on word w with probability (entries of w in the table) / T exactly,
    reading two V-long arrays (cache-resident) instead of a 40 MB table."""
    state, i = _below(state, thr.shape[0])
    state, t = _below(state, T)
    return state, i if t < thr[i] else alias[i]


@njit(**_JIT)
def _head(h, neu1e, W, rows, labels, m, lr, g, prod, lsum, repeats):
    """Outputs rows[:m] of W (labels 1 / 0) against the input h (D,): every score from the rows as
    they are, then each row's gradient w.r.t. h added to neu1e and the row updated (one pass; with
    `repeats`, a row drawn twice takes both gradients at once, as index_add_ does; a Huffman path
    never repeats a node, so hierarchical softmax skips that check). The loss is carried as
    prod * exp(lsum) of the factors s(+-score), one log per ~1,000 outputs; returns (prod, lsum)."""
    D, lr = h.shape[0], np.float32(lr)
    for o in range(m):
        wr = W[rows[o]]                             # a row view: its loops vectorise (W[r, d] would not)
        f = np.float32(0.0)
        for d in range(D):
            f += h[d] * wr[d]
        e = math.exp(-f)                            # float32 throughout, as the reference's sigmoid
        s = np.float32(1.0) / (np.float32(1.0) + e)
        if labels[o]:
            factor = s
            g[o] = (np.float32(1.0) - s) * lr
        else:
            factor = e * s if e < np.float32(1e30) else np.float32(1.0)
            g[o] = -s * lr
        prod *= factor
        if prod < 1e-200:                           # also catches 0 (a saturated output: loss inf)
            lsum += math.log(prod)
            prod = 1.0
    for o in range(1, m if repeats else 0):
        for q in range(o):
            if rows[q] == rows[o]:
                g[q] += g[o]
                g[o] = 0.0
                break
    for o in range(m):
        gf = g[o]
        if gf == 0.0:
            continue
        wr = W[rows[o]]
        for d in range(D):
            w = wr[d]
            neu1e[d] += gf * w
            wr[d] = w + gf * h[d]
    return prod, lsum


@njit(**_JIT)
def _example(h, neu1e, target, syn1neg, thr, alias, T, negative, syn1, hs_ptr, hs_points, hs_labels, lr, ns_rows,
             ns_labels, g, prod, lsum, state):
    """One SGD example predicting `target` from h: hierarchical softmax over its Huffman path and / or
    the target against `negative` draws from the noise table. neu1e (D,) must be zero on entry.
    Returns (rng state, prod, lsum)."""
    if hs_ptr.shape[0] > 1:
        a, b = hs_ptr[target], hs_ptr[target + 1]
        prod, lsum = _head(h, neu1e, syn1, hs_points[a:b], hs_labels[a:b], b - a, lr, g, prod, lsum, False)
    if negative > 0:
        m = 1
        ns_rows[0], ns_labels[0] = target, 1
        for _ in range(negative):
            state, w = _noise(state, thr, alias, T)
            if w != target:                         # a draw of the target itself is skipped (gensim)
                ns_rows[m], ns_labels[m] = w, 0
                m += 1
        prod, lsum = _head(h, neu1e, syn1neg, ns_rows, ns_labels, m, lr, g, prod, lsum, True)
    return state, prod, lsum


@njit(**_JIT)
def _subsample(seq, start, end, keep, sent, where, state):
    """The words of seq[start:end] that subsampling keeps (word w with probability keep[w]) into sent,
    their positions into where -> (rng state, how many)."""
    m = 0
    for p in range(start, end):
        w = seq[p]
        if keep[w] < 1.0:
            state, bits = _rand(state)
            if (bits >> _S11) * _UNIT >= keep[w]:
                continue
        sent[m], where[m] = w, p
        m += 1
    return state, m


@njit(**_JIT)
def _cbow(syn0, sent, i, a, b, cbow_mean, h, neu1e, syn1neg, thr, alias, T, negative, syn1, hs_ptr, hs_points,
          hs_labels, lr, ns_rows, ns_labels, g, prod, lsum, state):
    """One CBOW example: the sum (or mean) of sent[a:b] but the centre sent[i] predicts it, and the error
    goes back to each context word. Returns (rng state, prod, lsum)."""
    D = syn0.shape[1]
    h[:] = 0.0
    for j in range(a, b):
        if j != i:
            row = syn0[sent[j]]
            for d in range(D):
                h[d] += row[d]
    cnt = np.float32(b - a - 1)
    if cbow_mean:
        for d in range(D):
            h[d] /= cnt
    neu1e[:] = 0.0
    state, prod, lsum = _example(h, neu1e, sent[i], syn1neg, thr, alias, T, negative, syn1, hs_ptr,
                                 hs_points, hs_labels, lr, ns_rows, ns_labels, g, prod, lsum, state)
    if not cbow_mean:                   # a sum spreads its error over the words (gensim)
        for d in range(D):
            neu1e[d] /= cnt
    for j in range(a, b):
        if j != i:
            row = syn0[sent[j]]
            for d in range(D):
                row[d] += neu1e[d]
    return state, prod, lsum


@njit(**_JIT)
def train_job(syn0, syn1neg, syn1, seq, line_starts, lo, hi, keep, thr, alias, T, hs_ptr, hs_points, hs_labels, sg,
              cbow_mean, window, negative, lr_start, lr_end, chunk_lo, chunk_len, seed, stats):
    """Train on the words seq[lo:hi] (a job; its ends act as line ends) and write
    stats[:] = (loss sum, examples, kept words). The learning rate at position p is
    lr_start + (lr_end - lr_start) * (p - chunk_lo) / chunk_len."""
    D = syn0.shape[1]
    state = np.uint64(seed)
    state, _ = _rand(state)
    sent = np.empty(hi - lo, np.int32)             # the kept words of one line and their positions
    where = np.empty(hi - lo, np.int64)
    h = np.empty(D, np.float32)
    neu1e = np.empty(D, np.float32)
    n_max = negative + 1 + (hs_ptr[1:] - hs_ptr[:-1]).max() if hs_ptr.shape[0] > 1 else negative + 1
    g = np.empty(n_max, np.float32)
    ns_rows = np.empty(negative + 1, np.int32)
    ns_labels = np.empty(negative + 1, np.int8)
    prod, lsum = 1.0, 0.0
    examples, kept = 0, 0
    line = np.searchsorted(line_starts, lo, side="right") - 1
    start = lo
    while start < hi:
        end = min(line_starts[line + 1], hi)
        state, m = _subsample(seq, start, end, keep, sent, where, state)
        kept += m
        for i in range(m):
            state, shrink = _below(state, window)
            eff = window - shrink                   # this centre's window: 1..window
            a, b = max(0, i - eff), min(m, i + eff + 1)
            lr = lr_start + (lr_end - lr_start) * (where[i] - chunk_lo) / chunk_len
            if sg:                                  # each context word's vector predicts the centre
                for j in range(a, b):
                    if j == i:
                        continue
                    neu1e[:] = 0.0
                    row = syn0[sent[j]]
                    state, prod, lsum = _example(row, neu1e, sent[i], syn1neg, thr, alias, T, negative, syn1, hs_ptr,
                                                 hs_points, hs_labels, lr, ns_rows, ns_labels, g, prod, lsum, state)
                    for d in range(D):
                        row[d] += neu1e[d]
                    examples += 1
            elif b - a >= 2:                        # CBOW: the context's sum or mean predicts the centre
                state, prod, lsum = _cbow(syn0, sent, i, a, b, cbow_mean, h, neu1e, syn1neg, thr, alias, T,
                                          negative, syn1, hs_ptr, hs_points, hs_labels, lr, ns_rows, ns_labels, g,
                                          prod, lsum, state)
                examples += 1
        start = end
        line += 1
    stats[0] = -(lsum + math.log(prod))
    stats[1] = examples
    stats[2] = kept


@njit(**_JIT)
def _masked_head(h, neu1e, W, R, L, K, e, lr, rows, labels, g, prod, lsum):
    """_head over the outputs of example e whose keep mask K[e] is set."""
    m = 0
    for o in range(R.shape[1]):
        if K[e, o]:
            rows[m], labels[m] = R[e, o], L[e, o]
            m += 1
    return _head(h, neu1e, W, rows, labels, m, lr, g, prod, lsum, True)


@njit(**_JIT)
def train_examples(syn0, syn1neg, ns_rows, ns_labels, ns_keep, syn1, hs_rows, hs_labels, hs_keep, in_ptr,
                   in_rows, lrs, sg, cbow_mean):
    """The reference's examples one at a time, through the same `_head` as `train_job`: example e's
    input rows are in_rows[in_ptr[e]:in_ptr[e + 1]] (one for skip-gram: the input is that row itself;
    for CBOW their sum or mean), its outputs ns_rows[e] / hs_rows[e] with labels and keep masks
    ((n, M) each, int32 / int8 / int8; M = 0 for an unused head). Returns the summed loss."""
    n, D = lrs.shape[0], syn0.shape[1]
    h = np.empty(D, np.float32)
    neu1e = np.empty(D, np.float32)
    M = max(ns_rows.shape[1], hs_rows.shape[1])
    g = np.empty(M, np.float32)
    rows = np.empty(M, np.int32)
    labels = np.empty(M, np.int8)
    prod, lsum = 1.0, 0.0
    for e in range(n):
        a, b = in_ptr[e], in_ptr[e + 1]
        if sg:
            h[:] = syn0[in_rows[a]]
        else:
            h[:] = 0.0
            for k in range(a, b):
                row = syn0[in_rows[k]]
                for d in range(D):
                    h[d] += row[d]
            if cbow_mean:
                for d in range(D):
                    h[d] /= np.float32(b - a)
        neu1e[:] = 0.0
        prod, lsum = _masked_head(h, neu1e, syn1, hs_rows, hs_labels, hs_keep, e, lrs[e], rows, labels, g, prod, lsum)
        prod, lsum = _masked_head(h, neu1e, syn1neg, ns_rows, ns_labels, ns_keep, e, lrs[e], rows, labels, g, prod,
                                  lsum)
        if not sg and not cbow_mean:
            for d in range(D):
                neu1e[d] /= np.float32(b - a)
        for k in range(a, b):
            row = syn0[in_rows[k]]
            for d in range(D):
                row[d] += neu1e[d]
    return -(lsum + math.log(prod))
