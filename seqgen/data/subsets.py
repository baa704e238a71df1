"""Deterministic subsets: which items of a split an evaluation, a sample grid or a figure uses when it
uses fewer than all of them (evenly spread, so the first k are not all from one end of the file)."""

from __future__ import annotations

import numpy as np


def spread(n: int, k: int | None) -> np.ndarray:
    """k indices spread evenly over range(n), in order (all of them when k is None or >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(int)
