"""n-gram counting in a memory budget (model.memory=4G, model.temp_dir): KenLM's `lmplz -S -T` idea
for seqgen's tables.

The in-memory path (`NGram._count`) sorts every position of the corpus at once. Here the corpus is
read in blocks of lines sized by the budget, one order at a time. A block's n-grams of order n are
keyed exactly as the in-memory path keys them — `row of the (n-1)-gram prefix * V + last word`, the
prefix row being the block's row in the finished, global order n-1 table — so a block's sorted,
counted keys are a *sorted run* of the final table. Runs are spilled to temp_dir when an eighth of
the budget is held and merged (k-way, in bounded rounds) into the sorted distinct keys with their
counts, suffix rows and <s>-initial flags: the arrays `_count` returns, equal element for element,
written as raw files (`tables`) and handed back as read-only maps, so the finished tables never have
to fit in memory either (`estimate.estimate_on_disk` reads them in chunks).

Each block's rows of order n are kept on disk for order n + 1 (its positions' local groups and
its distinct keys, looked up in the merged table once, with sorted needles), so every order reads
the corpus once and searches the tables once. Memory: one block's working arrays (about 100 bytes a
token at the peak: half the budget), the runs held before a spill (an eighth, ~2.5x that while they
are merged into one), a merge round (half);
disk: 12 bytes a token plus the runs, and 17 bytes an n-gram for the tables.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from seqgen.core.errors import DataError
from seqgen.families.ngram import disk

BYTES_PER_TOKEN = 100     # peak working bytes per padded position while counting one block (measured)
RUN_BYTES = 21            # bytes per entry of a run: key int64, count int64, suffix int32, first bool
MERGE_BYTES = 64          # per entry of a merge round: the pieces, their argsort and the reduced copy
FAN_IN = 16               # runs merged at once (more runs: merged in passes, like a disk merge sort)
NAMES = ("keys", "counts", "suffix", "first")
DTYPES = (np.int64, np.int32, np.int32, np.bool_)   # the finished tables' types (counts < 2**31)


def _blocks(lines: Callable[[], Iterable], block_tokens: int):
    """Lists of line arrays of about block_tokens tokens each (a fresh pass over lines())."""
    block, size = [], 0
    for ln in lines():
        block.append(ln)
        size += len(ln) + 2
        if size >= block_tokens:
            yield block
            block, size = [], 0
    if block:
        yield block


def _pad(block, bos: int, eos: int):
    """[<s>, tokens.., </s>] per line -> seq (P,) int64 and last (P,) bool (the </s> ending a line)."""
    lengths = np.array([len(x) + 2 for x in block], dtype=np.int64)
    ends = np.cumsum(lengths)
    seq = np.empty(int(ends[-1]), dtype=np.int64)
    seq[ends - lengths] = bos
    seq[ends - 1] = eos
    body = np.ones(len(seq), bool)
    body[ends - lengths] = body[ends - 1] = False
    seq[body] = np.concatenate([np.asarray(x, np.int64) for x in block]) if body.any() else seq[body]
    last = np.zeros(len(seq), bool)
    last[ends - 1] = True
    return seq, last


def _block_run(seq, last, gid, V: int, n: int, bos: int):
    """This block's order-n n-grams as a sorted run (keys, counts, suffix rows, <s>-initial), from gid
    (P,): the global order n-1 row of the n-gram starting at each position (-1: none). Also returns
    each position's local group (the index of its n-gram among the run's keys, -1: none)."""
    P = len(seq)
    local = np.full(P, -1, np.int32)
    pos = np.flatnonzero((gid[:P - n + 1] >= 0) & ~last[n - 2:P - 1])
    if len(pos) == 0:
        return None, local
    key = gid[pos] * V + seq[pos + n - 1]
    order = np.argsort(key, kind="stable")
    key, pos = key[order], pos[order]
    new = np.empty(len(key), bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    runs = np.flatnonzero(new)
    counts = np.diff(np.append(runs, len(key)))
    start = pos[runs]
    local[pos] = np.cumsum(new) - 1
    return (key[runs], counts.astype(np.int64), gid[start + 1].astype(np.int32), seq[start] == bos), local


def _reduce(parts):
    """Merge (keys, counts, suffix, first) pieces whose keys interleave: sorted, equal keys summed."""
    key = np.concatenate([p[0] for p in parts])
    order = np.argsort(key, kind="stable")
    key = key[order]
    counts, suffix, first = (np.concatenate([p[i] for p in parts])[order] for i in (1, 2, 3))
    new = np.empty(len(key), bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    runs = np.flatnonzero(new)
    return key[runs], np.add.reduceat(counts, runs), suffix[runs], first[runs]


def _merge(runs: list, round_entries: int, stem: Path):
    """k-way merge of sorted runs (arrays or maps) in rounds of at most ~round_entries per run, written
    to four raw files at stem and mapped back: each round takes every key <= the smallest 'last key of
    the next round_entries' over the runs. The runs' pages are handed back after each round."""
    cur = [0] * len(runs)
    out = [disk.Spool(f"{stem}-{name}.bin", dt) for name, dt in zip(NAMES, DTYPES)]
    while True:
        live = [i for i, r in enumerate(runs) if cur[i] < len(r[0])]
        if not live:
            break
        bound = min(runs[i][0][min(cur[i] + round_entries, len(runs[i][0])) - 1] for i in live)
        parts = []
        for i in live:
            k = runs[i][0]
            end = cur[i] + int(np.searchsorted(k[cur[i]:cur[i] + round_entries], bound, side="right"))
            parts.append(tuple(np.array(a[cur[i]:end]) for a in runs[i]))
            cur[i] = end
        for spool, a in zip(out, _reduce(parts)):
            spool.add(a)
        del parts
        disk.release(a for r in runs for a in r)
    return tuple(disk.table(s.close(), s.dtype) for s in out)


def count_external(lines: Callable[[], Iterable], V: int, N: int, bos: int, eos: int, memory: int,
                   temp_dir, tables: Path):
    """The arrays of `NGram._count` (keys per order, raw counts, suffix rows, <s>-initial flags) with
    working memory about `memory` bytes; lines() gives a fresh iterator of token-id arrays. Orders >= 2
    come back as read-only maps of raw files in `tables` (which the caller owns); the sorted runs live
    in a temporary folder under temp_dir, removed on the way out."""
    block_tokens = max(64, memory // (2 * BYTES_PER_TOKEN))
    spill_entries = max(64, memory // (8 * RUN_BYTES))
    round_entries = max(64, memory // (2 * MERGE_BYTES))
    keys = [np.arange(V, dtype=np.int64)]
    unigram = np.zeros(V, np.int64)
    for block in _blocks(lines, block_tokens):
        seq, _ = _pad(block, bos, eos)
        unigram += np.bincount(seq, minlength=V)
    raw, suffix, first = [None, unigram.astype(np.int32)], [None, None], [None, None]
    tmp = Path(tempfile.mkdtemp(prefix="seqgen-ngram-", dir=temp_dir))
    try:
        for n in range(2, N + 1):
            k, c, s, f = _count_order(lines, n, N, V, bos, eos, block_tokens, spill_entries, round_entries,
                                      tmp, tables / f"order{n}")
            keys.append(k)
            raw.append(c)
            suffix.append(s)
            first.append(f)
            if n < N:
                _save_next_rows(tmp, k)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return keys, raw, suffix, first


def _count_order(lines, n: int, N: int, V: int, bos: int, eos: int, block_tokens: int, spill_entries: int,
                 round_entries: int, tmp: Path, out: Path):
    """Order n's (keys, counts, suffix rows, <s>-initial flags), mapped from raw files at `out`: each
    block's sorted run, spilled to disk whenever an eighth of the budget is held, merged FAN_IN runs at a
    time. Reads the order n-1 rows of each block from tmp and, below the top order, leaves its local
    groups and keys there for the next one."""
    held, spilled, held_entries = [], [], 0
    for b, block in enumerate(_blocks(lines, block_tokens)):
        seq, last = _pad(block, bos, eos)
        del block
        # order n-1 rows of this block: the words themselves, or what the last order saved
        gid = seq if n == 2 else np.load(tmp / f"gid{b}.npy")
        run, local = _block_run(seq, last, gid, V, n, bos)
        del seq, last, gid
        if n < N:                                    # for the next order: local groups and keys
            np.save(tmp / f"local{b}.npy", local)
            np.save(tmp / f"lkeys{b}.npy", run[0] if run else np.zeros(0, np.int64))
        del local
        if run is None:
            continue
        held.append(run)
        held_entries += len(run[0])
        del run
        if held_entries >= spill_entries:            # an eighth of the budget held: one sorted run to disk
            spilled.append(_spill(_reduce(held), tmp / f"o{n}-r{len(spilled)}"))
            held, held_entries = [], 0
        disk.trim()
    if not held and not spilled:
        raise DataError(f"no {n}-gram fits in any line (with <s> and </s>, every line is shorter "
                        f"than {n} tokens): lower model.order")
    runs = spilled + ([_spill(_reduce(held), tmp / f"o{n}-r{len(spilled)}")] if held else [])
    del held
    passes = 0
    while len(runs) > FAN_IN:                        # multi-pass: merge FAN_IN runs into one
        runs = [_merge(runs[i:i + FAN_IN], max(64, round_entries // FAN_IN), tmp / f"o{n}-p{passes}-r{i}")
                for i in range(0, len(runs), FAN_IN)]
        passes += 1
    merged = _merge(runs, max(64, round_entries // len(runs)), out)
    del runs, spilled
    for p in tmp.glob(f"o{n}-*"):
        p.unlink()
    return merged


def _save_next_rows(tmp: Path, k: np.ndarray) -> None:
    """Each block's global order-n rows: its sorted local keys looked up once in the merged keys k (a
    map whose pages are handed back after each block)."""
    for b in range(sum(1 for _ in tmp.glob("local*.npy"))):
        local, lkeys = np.load(tmp / f"local{b}.npy"), np.load(tmp / f"lkeys{b}.npy")
        rows = np.searchsorted(k, lkeys)
        disk.release([k])
        gid = np.where(local >= 0, rows[np.maximum(local, 0)] if len(rows) else -1, -1)
        np.save(tmp / f"gid{b}.npy", gid.astype(np.int64))


def _spill(run, stem: Path):
    """Write a run's four arrays and map them back read-only."""
    out = []
    for name, a in zip(NAMES, run):
        np.save(f"{stem}-{name}.npy", a)
        out.append(np.load(f"{stem}-{name}.npy", mmap_mode="r"))
    return tuple(out)
