"""Interpolated modified Kneser-Ney / Witten-Bell probabilities from counts: one order's arithmetic
(`order_probs`), shared by the in-memory estimate (`NGram._estimate`, one call per order) and the
budgeted one below (`estimate_on_disk`, one call per chunk of whole contexts), so the two give the
same floats bit for bit.

Within a chunk every context's n-grams are contiguous (the keys are sorted by prefix row), so the
per-context sums (`np.bincount`) add the same numbers in the same order as over the whole order.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from seqgen.families.ngram import disk

DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)  # used when count-of-counts leave a discount undefined
CHUNK = 1 << 22                      # n-grams per chunk of the budgeted estimate (~100 bytes each)


def order_probs(counts: np.ndarray, ctx: np.ndarray, c0: int, c1: int, lower: np.ndarray, D, wb: bool):
    """counts (m,) int: adjusted counts of n-grams whose context rows ctx (m,) are sorted and lie in
    [c0, c1); lower (m,) float64: the lower order's p of each n-gram's suffix (scaled in place).
    Returns p (m,) float64 = (c - D) / c(h) + gamma(h) p_lower, and gamma (c1 - c0,) float64 for every
    context row of the range (1 where a row has no continuation)."""
    a = counts.astype(np.float64)
    b = ctx - c0 if c0 else ctx
    size = c1 - c0
    total = np.bincount(b, weights=a, minlength=size)
    if not wb:
        disc = np.array([0.0, D[0], D[1], D[2]])[np.minimum(counts, 3)]   # D1, D2, D3+ (0: unseen)
        mass = np.bincount(b, weights=disc, minlength=size)
    else:  # Witten-Bell: gamma = N1+(h .) / (c(h) + N1+(h .))
        disc = np.zeros_like(a)
        types = np.bincount(b, weights=(a > 0).astype(np.float64), minlength=size)
        total, mass = total + types, types
    safe = np.where(total > 0, total, 1.0)
    u = a - disc                                    # u = (c - D) / c(h) where c > 0, else 0
    u /= safe[b]
    u[a <= 0] = 0.0
    del disc
    gamma = np.where(total > 0, mass / safe, 1.0)
    lower *= gamma[b]
    u += lower                                      # p = u + gamma(h) * p_lower(suffix)
    return u, gamma


def count_of_counts(counts: np.ndarray) -> list[int]:
    return [int((counts == k).sum()) for k in (1, 2, 3, 4)]


def discounts(t: list[int], n: int):
    """Modified Kneser-Ney's D1, D2, D3+ from count-of-counts t = [n1, n2, n3, n4] (Chen & Goodman)."""
    try:
        Y = t[0] / (t[0] + 2 * t[1])
        D = (1 - 2 * Y * t[1] / t[0], 2 - 3 * Y * t[2] / t[1], 3 - 4 * Y * t[3] / t[2])
        if not all(0 < d <= k for d, k in zip(D, (1, 2, 3))):
            raise ZeroDivisionError
        return D
    except ZeroDivisionError:
        warnings.warn(f"order {n}: count-of-counts {t} leave the modified Kneser-Ney discounts "
                      f"undefined (a tiny or character-level corpus; KenLM stops here); using "
                      f"D1, D2, D3+ = {DEFAULT_DISCOUNTS}", stacklevel=4)
        return DEFAULT_DISCOUNTS


def log10_table(x: np.ndarray) -> np.ndarray:
    """The stored form of p and of backoffs: log10, floored at 1e-99, float32."""
    return np.log10(np.maximum(x, 1e-99)).astype(np.float32)


def adjusted_counts(raw: list, suffix: list, first: list, bos: int, kneser_ney: bool) -> list:
    """Per order (index n), the counts probabilities are estimated from (int32): the top order's raw
    counts; below it Kneser-Ney's distinct left extensions (except <s>-initial n-grams, which keep raw
    counts), or raw counts for Witten-Bell. <s> itself gets count 0: it is never predicted."""
    N = len(raw) - 1
    counts = [None] * (N + 1)
    counts[N] = raw[N]
    for n in range(N - 1, 0, -1):
        if not kneser_ney:
            counts[n] = raw[n]
            continue
        cont = np.bincount(suffix[n + 1], minlength=len(raw[n])).astype(np.int32)
        counts[n] = cont if n == 1 else np.where(first[n], raw[n], cont)
    counts[1] = counts[1].copy()
    counts[1][bos] = 0
    return counts


def estimate_on_disk(model, raw: list, suffix: list, first: list, bos: int, folder: Path):
    """`NGram._estimate` for tables that live in raw files (the budgeted count's maps): adjusted
    counts, then each order's probabilities chunk by chunk of whole contexts, written to `folder`.
    Resident at once: one chunk's arrays and the previous order's p (8 bytes an n-gram of order
    n - 1); the model's logp / bow / counts come back as maps."""
    N, V = model.config.order, model.V
    wb = model.config.smoothing == "wb"
    counts = _adjusted_on_disk(raw, suffix, first, bos, not wb, folder)
    model.raw_counts = raw[1:]
    model.adjusted_counts = [c if n == 1 else disk.table(c, np.int32) for n, c in enumerate(counts) if n]
    model.logp, model.bow, model.discounts = [], [], []
    p_lower = None
    for n in range(1, N + 1):
        if n == 1:
            c = np.asarray(counts[1])
            D = None if wb else discounts(count_of_counts(c), 1)
            p, gamma = order_probs(c, np.zeros(V, np.int64), 0, 1, np.full(V, 1.0 / (V - 1)), D, wb)
            p[bos] = 0.0
            model.logp.append(log10_table(p))
            model.logp[0][bos] = -99.0
        else:
            p, bows = _order_on_disk(model, n, counts[n], suffix[n], p_lower, wb, folder)
            model.logp.append(disk.table(folder / f"logp{n}.bin", np.float32))
            model.bow.append(bows)
        if model.config.smoothing == "mkn" and n == 1:
            model.discounts.append(D)
        p_lower = p
        suffix[n] = None
    if N == 1:
        model.bow = []
    return model


def _order_on_disk(model, n: int, counts_path: Path, suffix, p_lower: np.ndarray, wb: bool, folder: Path):
    """Order n >= 2 in chunks of whole contexts: logp{n}.bin, bow{n-1}.bin (log10 gamma of every order
    n - 1 row) and, below the top order, p{n} (returned in memory for order n + 1)."""
    V, top = model.V, n == model.config.order
    keys_path, suffix_path = Path(model.keys[n - 1].filename), Path(suffix.filename)
    total_rows = len(model.keys[n - 2])
    D = None
    if not wb:
        t = np.zeros(4, np.int64)
        for _, c in disk.chunks(counts_path, np.int32, CHUNK):
            t += count_of_counts(c)
        D = discounts(t.tolist(), n)
        model.discounts.append(D)
    logp = disk.Spool(folder / f"logp{n}.bin", np.float32)
    bow = disk.Spool(folder / f"bow{n - 1}.bin", np.float32)
    probs = None if top else disk.Spool(folder / f"p{n}.bin", np.float64)
    m, start, c0 = disk.entries(keys_path, np.int64), 0, 0
    while start < m:
        keys = disk.read(keys_path, np.int64, start, min(CHUNK + V, m - start))   # > V: two contexts at least
        ctx = keys // V
        del keys
        end = len(ctx) if start + len(ctx) == m else int(np.searchsorted(ctx, ctx[-1]))  # whole contexts only
        ctx = ctx[:end]
        c1 = total_rows if start + end == m else int(ctx[-1]) + 1
        lower = p_lower[disk.read(suffix_path, np.int32, start, end)]
        p, gamma = order_probs(disk.read(counts_path, np.int32, start, end), ctx, c0, c1, lower, D, wb)
        del lower, ctx
        logp.add(log10_table(p))
        bow.add(log10_table(gamma))
        if probs is not None:
            probs.add(p)
        del p, gamma
        start, c0 = start + end, c1
    if c0 < total_rows:                              # rows after the last context with a continuation
        bow.add(np.zeros(total_rows - c0, np.float32))
    logp.close()
    bows = disk.table(bow.close(), np.float32)
    if probs is None:
        return None, bows
    out = disk.read(probs.close(), np.float64)
    probs.path.unlink()
    return out, bows


def _adjusted_on_disk(raw: list, suffix: list, first: list, bos: int, kneser_ney: bool, folder: Path) -> list:
    """`adjusted_counts` over maps: Kneser-Ney's continuation counts of order n accumulated from
    chunks of order n + 1's suffix rows (int32, one array of order n's length), written to
    counts{n}.bin; returns the file paths (order 1: the array itself)."""
    N = len(raw) - 1
    out = [None] * (N + 1)
    out[N] = raw[N] if N == 1 else Path(raw[N].filename)
    for n in range(N - 1, 0, -1):
        if not kneser_ney:
            out[n] = raw[n] if n == 1 else Path(raw[n].filename)
            continue
        cont = np.zeros(len(raw[n]), np.int32)
        for _, s in disk.chunks(Path(suffix[n + 1].filename), np.int32, CHUNK):
            _add_occurrences(cont, s)
        if n == 1:
            out[1] = cont
            continue
        spool = disk.Spool(folder / f"counts{n}.bin", np.int32)
        for start, r in disk.chunks(Path(raw[n].filename), np.int32, CHUNK):
            f = disk.read(Path(first[n].filename), np.bool_, start, len(r))
            spool.add(np.where(f, r, cont[start:start + len(r)]))
        del cont
        out[n] = spool.close()
    out[1] = np.asarray(out[1]).copy()
    out[1][bos] = 0
    return out


def _add_occurrences(counts: np.ndarray, ids: np.ndarray) -> None:
    """counts[i] += the number of times i occurs in ids (np.add.at's result; a sort is ~10x faster)."""
    x = np.sort(ids)
    new = np.empty(len(x), bool)
    new[:1] = True
    np.not_equal(x[1:], x[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts[x[starts]] += np.diff(np.append(starts, len(x))).astype(counts.dtype)
