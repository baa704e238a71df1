"""Batch streams over prepared token files: random windows for training, ordered windows for eval.

Both read the split in place (a np.memmap of uint16 / uint32 ids, as nanoGPT's get_batch): a batch
gathers its B windows of T+1 ids and only those become int64, so a split of any size costs its
page cache, and DDP ranks share one mapping of the same file.
"""

from __future__ import annotations

import numpy as np
import torch

from seqgen.core.errors import DataError
from seqgen.data.subsets import spread


def _ids(tokens) -> np.ndarray:
    """A 1-D id array without copying a memmap / ndarray (tensors and lists are converted)."""
    if isinstance(tokens, torch.Tensor):
        return tokens.numpy()
    return tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)


class TextBatches:
    """Random (x, y) windows of block_size tokens from one split, drawn with its own generator.

    The generator is the stream's whole state: `state_dict()` / `load_state_dict()` make resume exact.
    The draws (torch.randint on that generator) are those of the int64-tensor version this replaced,
    so checkpoints saved before resume onto the same batches.
    """

    def __init__(self, tokens, block_size: int, batch_size: int, seed: int):
        if len(tokens) <= block_size:
            raise DataError(f"split has {len(tokens)} tokens; need more than block_size={block_size}")
        self.tokens = _ids(tokens)
        self.block_size, self.batch_size = block_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._span = np.arange(block_size + 1)

    def next(self):
        T = self.block_size
        ix = torch.randint(len(self.tokens) - T, (self.batch_size,), generator=self.generator)
        offsets = ix.numpy()[:, None] + self._span[None, :]          # (B, T+1)
        window = torch.from_numpy(self.tokens[offsets].astype(np.int64))
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
    data = _ids(tokens)
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
            w = torch.from_numpy(data[s:s + L + 1].astype(np.int64))   # only this window becomes int64
            x[i, :L] = w[:L]
            y[i, :L] = w[1:L + 1]
        yield x, y
