"""Arrays on disk for the budgeted n-gram (model.memory): append-only spools, chunked reads, and maps
whose pages are handed back.

A numpy memmap that is read end to end keeps every page it touched resident, and those pages count in
the process's RSS until the kernel needs them back. The budgeted fit therefore reads its own files
with `read` (plain reads into a buffer the size of a chunk) and writes them through `Spool`; the
finished tables are maps (`table`), and whoever sweeps one (scoring, saving) calls `release` between
chunks so only the chunk's pages stay resident.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
from pathlib import Path

import numpy as np


class Spool:
    """Append-only raw array file: `add(chunk)` writes chunk.astype(dtype); len() counts entries."""

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.n = Path(path), np.dtype(dtype), 0
        self._f = open(self.path, "wb")

    def add(self, chunk: np.ndarray) -> None:
        np.ascontiguousarray(chunk, dtype=self.dtype).tofile(self._f)
        self.n += len(chunk)

    def close(self) -> Path:
        self._f.close()
        return self.path

    def __len__(self) -> int:
        return self.n


def entries(path: Path, dtype) -> int:
    return Path(path).stat().st_size // np.dtype(dtype).itemsize


def read(path: Path, dtype, start: int = 0, count: int = -1) -> np.ndarray:
    """entries [start, start + count) of a raw array file (count -1: to the end), read, not mapped."""
    dtype = np.dtype(dtype)
    return np.fromfile(path, dtype=dtype, count=count, offset=start * dtype.itemsize)


def chunks(path: Path, dtype, size: int):
    """(start, array) for consecutive pieces of about `size` entries of a raw array file."""
    total = entries(path, dtype)
    for start in range(0, total, size):
        yield start, read(path, dtype, start, min(size, total - start))


def table(path: Path, dtype) -> np.ndarray:
    """A read-only map of a finished raw array file (an empty array for an empty file: mmap refuses those)."""
    if entries(path, dtype) == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def release(arrays) -> None:
    """Hand back the resident pages of every mapped array (its data stays in the page cache, so the next
    touch is a cheap minor fault): bounds RSS while a sweep walks tables larger than memory."""
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is not None and hasattr(m, "madvise"):
            m.madvise(mmap.MADV_DONTNEED)


def on_disk(arrays) -> bool:
    return any(isinstance(a, np.memmap) for a in arrays)


def trim() -> None:
    """Give the allocator's freed heap back to the system (glibc's malloc_trim; nothing elsewhere).
    Arrays of up to 32 MB come from the heap once glibc's mmap threshold has risen, and a phase that
    frees many of them leaves the process's RSS high for the next one."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _libc():
    if "libc" not in _LIBC:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC["libc"] = lib if hasattr(lib, "malloc_trim") else None
        except OSError:
            _LIBC["libc"] = None
    return _LIBC["libc"]


_LIBC: dict = {}


SWEEP = 1 << 22      # entries of a table read at once by `search` / `take`


def search(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each query key in the sorted keys (a map of a file), or -1: the queries sorted once and
    the table read front to back in pieces (a merge join). A binary search per query would touch
    nearly every page of the table for any block of more queries than it has pages; this reads each
    piece that holds a query once, and hands its pages back."""
    out = np.full(len(query), -1, np.int64)
    n = len(keys)
    if not len(query) or not n:
        return out
    order = np.argsort(query, kind="stable")
    q = query[order]
    for s in range(0, n, SWEEP):
        e = min(n, s + SWEEP)
        lo, hi = np.searchsorted(q, keys[s], "left"), np.searchsorted(q, keys[e - 1], "right")
        if lo == hi:
            continue
        piece = np.array(keys[s:e])
        j = np.minimum(np.searchsorted(piece, q[lo:hi]), len(piece) - 1)
        hit = piece[j] == q[lo:hi]
        out[order[lo:hi][hit]] = s + j[hit]
        release([keys])
    release([keys])
    return out


def take(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """table[idx] for a map of a file: the indices sorted once, the table read in pieces (see search)."""
    out = np.empty(len(idx), table.dtype)
    if not len(idx):
        return out
    order = np.argsort(idx, kind="stable")
    si = idx[order]
    starts = np.searchsorted(si, np.arange(0, len(table) + SWEEP, SWEEP))
    for c, s in enumerate(range(0, len(table), SWEEP)):
        a, b = starts[c], starts[c + 1]
        if a < b:
            out[order[a:b]] = np.array(table[s:s + SWEEP])[si[a:b] - s]
            release([table])
    return out
