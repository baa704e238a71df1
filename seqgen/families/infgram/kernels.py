"""Compiled suffix-array queries (numba) over one shard: binary search for the range of suffixes that
start with a query, the next-token counts of a range, the longest suffix of a prompt that occurs.

Arguments: tok (T,) token ids of the shard, sa (T * W,) pointer bytes, w = W, fk (ceil(T / FENCE),) int64
fence keys (the first tokens of every FENCE-th suffix, packed; empty: no fences), q (m,) int64 query with
the document boundary already mapped to the separator. A range [lo, hi) holds the suffixes starting
with q, in sorted order: their (m+1)-th tokens are therefore sorted too, which is what `next_counts`
exploits (one galloping search per distinct next token instead of one read per occurrence).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(nogil=True, cache=True)
FENCE = 64   # suffixes per fence key: the keys (1/8 byte per token) fit in cache, the pointers do not


@njit(**_JIT)
def ptr(sa, w, i):
    """The i-th pointer: W little-endian bytes."""
    v = np.int64(0)
    base = i * w
    for b in range(w):
        v |= np.int64(sa[base + b]) << (8 * b)
    return v


@njit(**_JIT)
def _cmp(tok, p, q):
    """Sign of (suffix at p) vs q, 0 when q is a prefix of the suffix."""
    n = len(tok)
    for k in range(len(q)):
        if p + k >= n:
            return -1           # the suffix ended first: it is smaller
        t = np.int64(tok[p + k])
        if t != q[k]:
            return -1 if t < q[k] else 1
    return 0


@njit(**_JIT)
def key_of(tok, p):
    """The fence key of the suffix at p: its first 63 // bits tokens packed big-endian into an int64
    (3 for uint16 ids, 1 for uint32), missing tokens past the shard's end as 0. Keys of sorted suffixes
    never decrease, so a binary search over them (in cache) narrows one over the pointers (not)."""
    bits = tok.itemsize * 8
    v = np.int64(0)
    for k in range(63 // bits):
        t = np.int64(tok[p + k]) if p + k < len(tok) else np.int64(0)
        v = (v << bits) | t
    return v


@njit(**_JIT)
def fence_keys(tok, starts):
    """(len(starts),) int64: key_of each position (the suffixes 0, FENCE, 2 FENCE, ... of the array)."""
    out = np.empty(len(starts), np.int64)
    for j in range(len(starts)):
        out[j] = key_of(tok, starts[j])
    return out


@njit(**_JIT)
def token_pointers(raw, width, w, table, starts):
    """From a byte-level suffix array (raw, byte positions) of `width`-byte tokens: the suffixes that
    start on a token, in order, written as w little-endian bytes each into table (T * w,), and every
    FENCE-th position into starts; returns how many were kept (T)."""
    k = 0
    for i in range(len(raw)):
        p = np.int64(raw[i])
        if p % width:
            continue
        p //= width
        base = k * w
        for b in range(w):
            table[base + b] = (p >> (8 * b)) & 0xFF
        if k % FENCE == 0:
            starts[k // FENCE] = p
        k += 1
    return k


@njit(**_JIT)
def _starts_with_prefix(tok, sa, w, j, per):
    """Fence j's key holds `per` real tokens (its suffix is not one of the last per - 1 positions, whose
    keys are 0-padded): a key inside a query's key range then means the suffix starts with the query."""
    return ptr(sa, w, j * FENCE) + per <= len(tok)


@njit(**_JIT)
def _narrow(tok, sa, w, fk, q):
    """(a, b, c, d): from the fence keys alone, the first suffix >= q lies in [a, b] and the first
    suffix > q (not starting with it) in [c, d]. A fence whose key is below q's smallest possible key
    (its first tokens, 0-padded) is a suffix below q; one above the largest (max-padded) a suffix above
    q; for a query no longer than a key, one in between starts with q."""
    T = len(tok)
    nf = len(fk)
    if nf == 0:
        return 0, T, 0, T
    bits = tok.itemsize * 8
    per = 63 // bits
    top = (np.int64(1) << bits) - 1
    lo_key = np.int64(0)
    hi_key = np.int64(0)
    for k in range(per):
        lo_key = (lo_key << bits) | (q[k] if k < len(q) else np.int64(0))
        hi_key = (hi_key << bits) | (q[k] if k < len(q) else top)
    i, j = 0, nf
    while i < j:                              # fences with key < lo_key: [0, i)
        mid = (i + j) >> 1
        if fk[mid] < lo_key:
            i = mid + 1
        else:
            j = mid
    first_in = i
    j = nf
    while i < j:                              # fences with key <= hi_key: [0, i)
        mid = (i + j) >> 1
        if fk[mid] <= hi_key:
            i = mid + 1
        else:
            j = mid
    after = i                                 # the first fence above q, nf: none
    a = (first_in - 1) * FENCE + 1 if first_in > 0 else 0
    d = after * FENCE if after < nf else T
    b, c = d, a
    if len(q) <= per:
        if first_in < after and _starts_with_prefix(tok, sa, w, first_in, per):
            b = first_in * FENCE              # fence first_in starts with q: the first match is no later
        elif first_in == after:
            b = d                             # no fence starts with q: a match lies between two fences
        if after - 1 >= first_in and _starts_with_prefix(tok, sa, w, after - 1, per):
            c = (after - 1) * FENCE + 1       # fence after - 1 starts with q: the range ends later
    return a, b, c, d


@njit(**_JIT)
def find(tok, sa, w, fk, q):
    """(lo, hi): the suffixes in [lo, hi) start with q. A separator inside q (not first, not last)
    would join two documents: such a query never matches."""
    sep = np.int64(np.iinfo(tok.dtype).max)
    for k in range(1, len(q) - 1):
        if q[k] == sep:
            return 0, 0
    a, b, c, d = _narrow(tok, sa, w, fk, q)
    ub = d                                    # an upper bound for the second search, found on the way
    while a < b:                              # first suffix >= q: in [a, b]
        mid = (a + b) >> 1
        cm = _cmp(tok, ptr(sa, w, mid), q)
        if cm < 0:
            a = mid + 1
        else:
            b = mid
            if cm > 0 and mid < ub:
                ub = mid
    lo = a
    a = max(lo, c)
    b = max(a, ub)
    while a < b:                              # first suffix > q (q not a prefix): in [max(lo, c), ub]
        mid = (a + b) >> 1
        if _cmp(tok, ptr(sa, w, mid), q) <= 0:
            a = mid + 1
        else:
            b = mid
    return lo, a


@njit(**_JIT)
def find_cont(tok, sa, w, fk, q):
    """find() of q as a context: without the one occurrence that ends the shard (no next token; it
    sorts first), and empty when q ends a document (len > 1 and a separator last: what follows is
    another document)."""
    if len(q) > 1 and q[len(q) - 1] == np.int64(np.iinfo(tok.dtype).max):
        return 0, 0
    lo, hi = find(tok, sa, w, fk, q)
    if lo < hi and ptr(sa, w, lo) + len(q) >= len(tok):
        lo += 1
    return lo, hi


@njit(**_JIT)
def next_counts(tok, sa, w, lo, hi, m, ids, cnts):
    """Counts of the token after each suffix of [lo, hi) (each has one: see find_cont); fills ids / cnts,
    returns how many distinct tokens. Galloping: runs of one next token cost O(log run)."""
    k = 0
    i = lo
    while i < hi:
        t = tok[ptr(sa, w, i) + m]
        last, step = i, 1                     # last index known to hold t
        while i + step < hi and tok[ptr(sa, w, i + step) + m] == t:
            last = i + step
            step <<= 1
        a, b = last + 1, min(i + step, hi)    # the run ends in [a, b]
        while a < b:
            mid = (a + b) >> 1
            if tok[ptr(sa, w, mid) + m] == t:
                a = mid + 1
            else:
                b = mid
        ids[k] = t
        cnts[k] = a - i
        k += 1
        i = a
    return k


@njit(**_JIT)
def longest_suffix(tok, sa, w, fk, prompt, max_len, min_count):
    """(k, lo, hi): the longest suffix prompt[-k:] (k <= max_len) occurring at least min_count times
    with a next token, and its range; k = 0 means the empty context (the whole shard)."""
    best, blo, bhi = 0, 0, len(tok)           # empty context: every position (the unigram counts)
    L = len(prompt)
    for k in range(1, min(L, max_len) + 1):
        lo, hi = find_cont(tok, sa, w, fk, prompt[L - k:])
        if hi - lo < min_count or hi - lo == 0:
            break
        best, blo, bhi = k, lo, hi
    return best, blo, bhi


@njit(**_JIT)
def match_lengths(tok, sa, w, fk, seq, max_len, cont):
    """For each position j of seq: the length of the longest suffix of seq[:j + 1] (ending at token j)
    found in the shard (cont: found with a next token, i.e. usable as a context), capped at max_len.
    Grows from the previous answer: the match ending at j is at most one longer than the one at j - 1."""
    out = np.zeros(len(seq), np.int64)
    prev = 0
    for j in range(len(seq)):
        k = min(prev + 1, max_len, j + 1)
        while k > 0:
            if cont:
                lo, hi = find_cont(tok, sa, w, fk, seq[j + 1 - k:j + 1])
            else:
                lo, hi = find(tok, sa, w, fk, seq[j + 1 - k:j + 1])
            if hi > lo:
                break
            k -= 1
        out[j] = k
        prev = k
    return out


@njit(**_JIT)
def context_counts(tok, sa, w, fk, seq, ks, prompt, cont, first, last):
    """For each j < len(seq) - 1 with the context seq[j + 1 - ks[j]:j + 1] and target seq[j + 1], add
    to prompt[j] / cont[j] the counts of the context (with a next token) and of context + target, and
    lower first[j] / raise last[j] to the smallest / largest next token seen (one distinct next token:
    first == last, the paper's "sparse" estimate)."""
    for j in range(len(seq) - 1):
        k = ks[j]
        lo, hi = find_cont(tok, sa, w, fk, seq[j + 1 - k:j + 1])
        if hi <= lo:
            continue
        prompt[j] += hi - lo
        a, b = find(tok, sa, w, fk, seq[j + 1 - k:j + 2])
        cont[j] += b - a
        f = np.int64(tok[ptr(sa, w, lo) + k])
        g = np.int64(tok[ptr(sa, w, hi - 1) + k])
        if f < first[j]:
            first[j] = f
        if g > last[j]:
            last[j] = g


@njit(**_JIT)
def checked(a, vocab_size, eos, sep):
    """(q, bad): a (m,) int64 copy of the ids with eos mapped to sep, and the index of the first id
    outside [0, vocab_size) (-1: none). eos < 0: no boundary token."""
    q = np.empty(len(a), np.int64)
    for i in range(len(a)):
        t = a[i]
        if t < 0 or t >= vocab_size:
            return q, i
        q[i] = sep if t == eos else t
    return q, -1


@njit(**_JIT)
def count_checked(tok, sa, w, fk, vocab_size, eos, a):
    """count() of one shard in one call: -1 when an id is outside [0, vocab_size) (the caller then
    raises with the full message); the boundary alone counts documents, not the opening separator."""
    sep = np.int64(np.iinfo(tok.dtype).max)
    q = np.empty(len(a), np.int64)
    for i in range(len(a)):
        t = a[i]
        if t < 0 or t >= vocab_size:
            return -1
        q[i] = sep if t == eos else t
    lo, hi = find(tok, sa, w, fk, q)
    n = hi - lo
    if len(q) == 1 and q[0] == sep:
        n -= 1
    return n
