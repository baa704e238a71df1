"""Compiled n-gram lookups (numba): scoring and the full next-token distribution over the ARPA tables.

The tables stay what `model.py` builds and the checkpoint holds: per order n, sorted int64 keys
`id(prefix (n-1)-gram) * V + word` with float32 log10 p and backoff. `Index` adds, once per model
(the "load" step, timed apart from scoring):
- per order, an open-addressing hash from key to row (int32 slots, linear probing, load <= 2/3):
  finding the n-gram (g, w) costs about one cache miss (KenLM's probing layout), where a binary
  search over millions of keys costs a dozen;
- per order, where each prefix's run of continuations starts (the keys are sorted by prefix, so
  the seen continuations of a context are one slice): the next-token distribution reads them.

Every loop below runs over all positions of a text for one order at a time. The positions are
independent, so a lookup's slot is known long before it is needed: the loops prefetch the hash slot
and then the key of a position 2 * _AHEAD and _AHEAD steps ahead, which hides most misses. Each
kernel has one signature whatever the model's order. The arithmetic (float64 sums of float32 table
entries, in the same order) is the numpy reference's, so the results are identical to it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_JIT = dict(nogil=True, cache=True)
_AHEAD = 16                                  # positions between a prefetch and its use
_BLOCK = 1 << 21                             # positions scored at a time (bounds the id arrays)
_FIB = np.uint64(0x9E3779B97F4A7C15)         # 2**64 / golden ratio: Fibonacci hashing


@intrinsic
def _prefetch(typingctx, arr, i):
    """Ask the CPU to bring arr[i] into the cache (llvm.prefetch: read, keep; never faults)."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]], wraparound=False)
        i32, byte_ptr = ir.IntType(32), ir.IntType(8).as_pointer()
        name = "llvm.prefetch." + byte_ptr.intrinsic_name    # p0i8 with typed pointers, p0 with opaque ones
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
                                            name)
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(arr, i), codegen


class Index:
    """Lookup structures of one model's tables, each built on first use: `hashes[n]` (2**bits,) int32
    rows of keys[n] by hash slot (-1: empty), `starts[n]` (len(keys[n - 1]) + 1,) int64 such that
    rows starts[n][g]:starts[n][g + 1] of keys[n] extend row g of keys[n - 1]. Index 0 is unused."""

    def __init__(self, model):
        self.tables, self.V = tuple(model.keys), model.V
        self._hashes = self._starts = None

    def fits(self, model) -> bool:
        return len(self.tables) == len(model.keys) and all(a is b for a, b in zip(self.tables, model.keys))

    @property
    def hashes(self) -> list[np.ndarray]:
        if self._hashes is None:
            self._hashes = [np.zeros(1, np.int32)]
            for keys in self.tables[1:]:
                bits = max(4, int(np.ceil(np.log2(1.5 * len(keys) + 1))))
                self._hashes.append(build_hash(keys, bits))
        return self._hashes

    @property
    def starts(self) -> list[np.ndarray]:
        if self._starts is None:
            self._starts = [np.zeros(1, np.int64)]
            for n in range(1, len(self.tables)):
                out = np.empty(len(self.tables[n - 1]) + 1, np.int64)
                run_starts(self.tables[n], self.V, out)
                self._starts.append(out)
        return self._starts


@njit(**_JIT)
def _slot(q, shift):
    return np.int64((np.uint64(q) * _FIB) >> shift)


@njit(**_JIT)
def build_hash(keys, bits):
    """(2**bits,) int32: row r of keys (sorted int64, distinct) stored at its key's slot or the next
    free one after it (linear probing)."""
    mask, shift = (1 << bits) - 1, np.uint64(64 - bits)
    table = np.full(1 << bits, -1, np.int32)
    for r in range(keys.shape[0]):
        s = _slot(keys[r], shift)
        while table[s] >= 0:
            s = (s + 1) & mask
        table[s] = r
    return table


@njit(**_JIT)
def run_starts(keys, V, out):
    """out[g] = first row of keys (sorted, prefix = key // V) whose prefix is >= g, for every g."""
    r = 0
    for g in range(out.shape[0]):
        while r < keys.shape[0] and keys[r] // V < g:
            r += 1
        out[g] = r


@njit(**_JIT)
def pad(body, lengths, bos, eos, seq, line_of, targets, hist):
    """Lines -> [<s>, words.., </s>] per line: seq, line_of (P,) with P = sum(lengths + 2); targets,
    hist (P - n_lines,): every position after a <s> and the tokens before it in its line (incl. <s>).
    body: the lines' words concatenated; lengths (n_lines,). All int64."""
    p = q = x = 0
    for ln in range(lengths.shape[0]):
        n = lengths[ln]
        for i in range(n + 2):
            if i == 0:
                seq[p] = bos
            elif i <= n:
                seq[p] = body[q]
                q += 1
            else:
                seq[p] = eos
            line_of[p] = ln
            if i > 0:
                targets[x], hist[x] = p, i
                x += 1
            p += 1


@njit(**_JIT)
def extend(prev, seq, line_of, k, keys, table, bits, V, out):
    """out[i] = row in keys (order k's table) of the k-gram starting at i, or -1: the (k-1)-gram
    prev[i] (a row of order k-1, or -1) extended by the word seq[i + k - 1] of the same line.
    prev, seq, line_of, out: (P,) int64; table: keys' hash (build_hash, 2**bits slots)."""
    P, mask, shift = seq.shape[0], table.shape[0] - 1, np.uint64(64 - bits)
    for i in range(P):
        y = i + 2 * _AHEAD                      # two stages ahead: the slot, then the row's key
        if y + k - 1 < P and prev[y] >= 0:
            _prefetch(table, _slot(prev[y] * V + seq[y + k - 1], shift))
        y = i + _AHEAD
        if y + k - 1 < P and prev[y] >= 0:
            r = table[_slot(prev[y] * V + seq[y + k - 1], shift)]
            if r >= 0:
                _prefetch(keys, r)
        out[i] = -1
        j = i + k - 1
        if j >= P or prev[i] < 0 or line_of[i] != line_of[j]:
            continue
        q = prev[i] * V + seq[j]
        s = _slot(q, shift)
        while True:
            r = table[s]
            if r < 0:
                break
            if keys[r] == q:
                out[i] = r
                break
            s = (s + 1) & mask


@njit(**_JIT)
def score_order(k, grams, contexts, logp, bow, targets, hist, matched, out):
    """One order of KenLM's backoff rule, longest order first, for every target position t:
    if the k-gram ending at t (grams[t - k + 1]) exists, out += its log10 p and t is matched; if not,
    out += the backoff of its (k-1)-word context (contexts[t - k + 1]) when that exists. Positions
    with fewer than k-1 tokens of history, or already matched, are left alone. targets, hist (T,):
    positions and their history lengths; grams / contexts: rows per start position (contexts unused
    for k = 1); matched (T,) bool; out (T,) float64."""
    T = targets.shape[0]
    for x in range(T):
        y = x + _AHEAD
        if y < T and not matched[y] and hist[y] >= k - 1:   # a later target's table entry, early
            ahead = grams[targets[y] - k + 1]
            if ahead >= 0:
                _prefetch(logp, ahead)
            elif k > 1 and contexts[targets[y] - k + 1] >= 0:
                _prefetch(bow, contexts[targets[y] - k + 1])
        if matched[x] or hist[x] < k - 1:
            continue
        s = targets[x] - k + 1
        gid = grams[s]
        if gid >= 0:
            out[x] += logp[gid]
            matched[x] = True
        elif k > 1:
            cid = contexts[s]
            if cid >= 0:
                out[x] += bow[cid]


@njit(**_JIT)
def fill_rows(dist, logp1, bows, levels):
    """dist (B, V) float64: row b = the unigram log10 p (V,) float32 plus the backoffs bows[b, :levels[b]]
    of its context's suffixes of length 1, 2, .. (added in that order), one row at a time so that
    each stays in the cache while it is built."""
    V = dist.shape[1]
    for b in range(dist.shape[0]):
        for w in range(V):
            dist[b, w] = logp1[w]
        for j in range(levels[b]):
            bj = bows[b, j]
            for w in range(V):
                dist[b, w] += bj


@njit(**_JIT)
def overwrite(dist, k, suffix, bows, levels, keys, starts, logp, V):
    """The seen continuations of each row's length-k suffix (rows starts[g]:starts[g + 1] of the next
    order's keys, g = suffix[b]) take their log10 p plus the backoffs of the longer suffixes, as if
    the row had been overwritten at length k and backed off further (exactly the reference's sums).
    Called for k = 1, 2, .. in turn: a longer context's continuation overwrites a shorter one's."""
    for b in range(dist.shape[0]):
        if levels[b] < k:
            continue
        g = suffix[b]
        base = g * V
        for r in range(starts[g], starts[g + 1]):
            x = np.float64(logp[r])
            for j in range(k, levels[b]):
                x += bows[b, j]
            dist[b, keys[r] - base] = x


# ---- drivers: numpy in, numpy out (model.py picks the backend) -----------------------------------

def index(model) -> Index:
    """The model's lookup structures, kept on the model and rebuilt if its tables were replaced."""
    idx = getattr(model, "_index", None)
    if idx is None or not idx.fits(model):
        idx = model._index = Index(model)
    return idx


def gram_ids(model, seq: np.ndarray, line_of: np.ndarray, top: int) -> list[np.ndarray]:
    """ids[k-1][i]: row of the k-gram starting at i in order k's table, or -1, for k = 1..top."""
    hashes, ids = index(model).hashes, [seq]
    for k in range(2, top + 1):
        out = np.empty(len(seq), np.int64)
        table = hashes[k - 1]
        extend(ids[-1], seq, line_of, k, model.keys[k - 1], table, len(table).bit_length() - 1, model.V, out)
        ids.append(out)
    return ids


def score_lines(model, lines: list[np.ndarray], bos: int, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """(log10 p, token) of every scored token of the lines (each word and one </s> per line), in
    blocks of whole lines of about 2M tokens (which bound the per-order id arrays)."""
    lengths = np.fromiter(map(len, lines), np.int64, len(lines))
    ends = np.cumsum(lengths + 2)
    cuts = np.searchsorted(ends, np.arange(_BLOCK, int(ends[-1]) if len(ends) else 0, _BLOCK)) + 1
    logp, tokens = [], []
    for a, b in zip([0, *cuts], [*cuts, len(lines)]):
        if a >= b:
            continue
        n = lengths[a:b]
        P = int(n.sum()) + 2 * (b - a)
        seq, line_of = np.empty(P, np.int64), np.empty(P, np.int64)
        targets, hist = np.empty(P - (b - a), np.int64), np.empty(P - (b - a), np.int64)
        body = np.concatenate(lines[a:b]).astype(np.int64, copy=False)
        pad(body, n, bos, eos, seq, line_of, targets, hist)
        logp.append(score(model, seq, line_of, targets, hist))
        tokens.append(seq[targets])
    if not logp:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(logp), np.concatenate(tokens)


def score(model, seq: np.ndarray, line_of: np.ndarray, targets: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """log10 p of seq[targets] given their lines so far (hist tokens of history, incl. <s>), (T,)."""
    top = min(model.config.order, int(hist.max(initial=0)) + 1)
    ids = gram_ids(model, seq, line_of, top)
    out, matched = np.zeros(len(targets)), np.zeros(len(targets), np.bool_)
    for k in range(top, 0, -1):                               # longest n-gram first
        contexts, bow = (ids[k - 2], model.bow[k - 2]) if k > 1 else (ids[0], model.logp[0])
        score_order(k, ids[k - 1], contexts, model.logp[k - 1], bow, targets, hist, matched, out)
    return out


def next_log10probs(model, contexts: list[list[int]]) -> np.ndarray:
    """(B, V) log10 p(w | context) for contexts already cut to their last order-1 tokens: the
    reference's rule (start from the unigrams; for each existing suffix, shortest first, add its
    backoff to every word, then overwrite its seen continuations), with each row written once."""
    B, V = len(contexts), model.V
    lengths = np.array([len(c) for c in contexts], np.int64)
    flat = np.array([w for c in contexts for w in c], np.int64)
    ends = np.cumsum(lengths)
    top = int(lengths.max(initial=0))
    ids = gram_ids(model, flat, np.repeat(np.arange(B, dtype=np.int64), lengths), top)  # k-grams in each context
    suffixes, bows = np.full((top + 1, B), -1, np.int64), np.zeros((B, top))
    levels, alive = np.zeros(B, np.int64), np.ones(B, bool)
    for k in range(1, top + 1):          # a row's suffixes count until the first one the model lacks
        has = lengths >= k
        suffixes[k, has] = ids[k - 1][ends[has] - k]
        alive &= suffixes[k] >= 0
        bows[alive, k - 1] = model.bow[k - 1][suffixes[k, alive]]
        levels += alive
    dist = np.empty((B, V))
    fill_rows(dist, model.logp[0], bows, levels)
    starts = index(model).starts
    for k in range(1, top + 1):
        overwrite(dist, k, suffixes[k], bows, levels, model.keys[k], starts[k], model.logp[k], V)
    return dist
