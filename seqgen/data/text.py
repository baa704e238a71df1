"""Batch streams over prepared token files: random windows for training, ordered windows for eval.

Both read the split in place: a batch gathers its B windows of T+1 ids and only those become int64,
so a split of any size costs its page cache. A split given as a whole-file np.memmap is read with
os.pread at each window rather than through the mapping: the pages a mapping faults in (with the
kernel's readahead, ~1 MB a step at batch 12) count in the process's RSS and pile up over a run on a
corpus bigger than memory (nanoGPT recreates its memmap every batch for the same reason); read
pages stay in the shared, reclaimable page cache instead.
"""

from __future__ import annotations

import mmap
import os

import numpy as np
import torch

from seqgen.core.errors import DataError
from seqgen.data.subsets import spread


class FileIds:
    """A token file's ids read window by window with os.pread (no mapping): len() and window()."""

    def __init__(self, path, dtype, offset: int, n: int):
        self.path, self.dtype, self.offset, self.n = str(path), np.dtype(dtype), int(offset), int(n)
        self._fd = None

    @classmethod
    def of(cls, mm: np.memmap) -> "FileIds":
        return cls(mm.filename, mm.dtype, mm.offset, len(mm))

    def __len__(self) -> int:
        return self.n

    def window(self, start: int, length: int) -> np.ndarray:
        """ids[start:start + length] (clipped at the end), a fresh array."""
        if self._fd is None or self._pid != os.getpid():   # one descriptor per process (DDP, forks)
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        length = max(0, min(length, self.n - start))
        size = self.dtype.itemsize
        buf = os.pread(self._fd, length * size, self.offset + start * size)
        return np.frombuffer(buf, self.dtype)

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)


def as_ids(tokens):
    """A 1-D id source without copying: a whole-file memmap becomes FileIds, an ndarray stays as it
    is (tensors and lists are converted)."""
    if isinstance(tokens, np.memmap) and tokens.filename and isinstance(tokens.base, mmap.mmap):
        return FileIds.of(tokens)
    if isinstance(tokens, torch.Tensor):
        return tokens.numpy()
    return tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)


def window_of(ids, start: int, length: int) -> np.ndarray:
    """ids[start:start + length] of an as_ids() source."""
    return ids.window(start, length) if isinstance(ids, FileIds) else ids[start:start + length]


class TextBatches:
    """Random (x, y) windows of block_size tokens from one split, drawn with its own generator.

    The generator is the stream's whole state: `state_dict()` / `load_state_dict()` make resume exact.
    The draws (torch.randint on that generator) are those of the int64-tensor version this replaced,
    so checkpoints saved before resume onto the same batches.
    """

    def __init__(self, tokens, block_size: int, batch_size: int, seed: int):
        if len(tokens) <= block_size:
            raise DataError(f"split has {len(tokens)} tokens; need more than block_size={block_size}")
        self.tokens = as_ids(tokens)
        self.block_size, self.batch_size = block_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._span = np.arange(block_size + 1)

    def next(self):
        T = self.block_size
        ix = torch.randint(len(self.tokens) - T, (self.batch_size,), generator=self.generator)
        if isinstance(self.tokens, FileIds):                         # B reads of T+1 ids
            rows = np.stack([self.tokens.window(int(i), T + 1) for i in ix.tolist()])
        else:
            rows = self.tokens[ix.numpy()[:, None] + self._span[None, :]]   # (B, T+1)
        window = torch.from_numpy(rows.astype(np.int64))
        return window[:, :-1], window[:, 1:]

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


def eval_windows(tokens, block_size: int, batch_size: int, max_batches: int | None = None):
    """Yield (x, y) batches that cover the split once in non-overlapping windows, in order.

    Every token after the first is predicted exactly once (the last window may be shorter), so the
    mean loss is the split's true per-token cross-entropy. With max_batches the windows are spread
    evenly over the split instead of taken from its start.
    """
    data = as_ids(tokens)
    n = len(data) - 1
    starts = range(0, n, block_size)
    if max_batches is not None and len(starts) > max_batches * batch_size:
        starts = [starts[i] for i in spread(len(starts), max_batches * batch_size)]
    for b in range(0, len(starts), batch_size):
        group = starts[b:b + batch_size]
        lengths = [min(block_size, n - s) for s in group]
        T = max(lengths)
        x = torch.zeros(len(group), T, dtype=torch.int64)
        y = torch.full((len(group), T), -1, dtype=torch.int64)  # -1: ignored by the loss
        for i, (s, L) in enumerate(zip(group, lengths)):
            w = torch.from_numpy(window_of(data, s, L + 1).astype(np.int64))   # only this window becomes int64
            x[i, :L] = w[:L]
            y[i, :L] = w[1:L + 1]
        yield x, y
