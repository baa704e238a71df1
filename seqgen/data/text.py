"""Batch streams over prepared token files: random windows for training, ordered windows for eval."""

from __future__ import annotations

import numpy as np
import torch

from seqgen.core.errors import DataError


class TextBatches:
    """Random (x, y) windows of block_size tokens from one split, drawn with its own generator.

    The generator is the stream's whole state: `state_dict()` / `load_state_dict()` make resume exact.
    """

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed: int):
        if len(tokens) <= block_size:
            raise DataError(f"split has {len(tokens)} tokens; need more than block_size={block_size}")
        self.tokens = torch.from_numpy(np.asarray(tokens).astype(np.int64))
        self.block_size, self.batch_size = block_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        T = self.block_size
        ix = torch.randint(len(self.tokens) - T, (self.batch_size,), generator=self.generator)
        offsets = ix[:, None] + torch.arange(T + 1)[None, :]  # (B, T+1)
        window = self.tokens[offsets]
        return window[:, :-1], window[:, 1:]

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


def eval_windows(tokens: np.ndarray, block_size: int, batch_size: int, max_batches: int | None = None):
    """Yield (x, y) batches that cover the split once in non-overlapping windows, in order.

    Every token after the first is predicted exactly once (the last window may be shorter), so the
    mean loss is the split's true per-token cross-entropy. With max_batches the windows are spread
    evenly over the split instead of taken from its start.
    """
    data = torch.from_numpy(np.asarray(tokens).astype(np.int64))
    n = len(data) - 1
    starts = list(range(0, n, block_size))
    if max_batches is not None and len(starts) > max_batches * batch_size:
        pick = np.linspace(0, len(starts) - 1, max_batches * batch_size).round().astype(int)
        starts = [starts[i] for i in pick]
    for b in range(0, len(starts), batch_size):
        group = starts[b:b + batch_size]
        lengths = [min(block_size, n - s) for s in group]
        T = max(lengths)
        x = torch.zeros(len(group), T, dtype=torch.int64)
        y = torch.full((len(group), T), -1, dtype=torch.int64)  # -1: ignored by the loss
        for i, (s, L) in enumerate(zip(group, lengths)):
            x[i, :L] = data[s:s + L]
            y[i, :L] = data[s + 1:s + L + 1]
        yield x, y
