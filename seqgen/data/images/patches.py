"""Patch tokens for palette images ("BPE for pixels"): the p x p blocks of palette indices that occur
in training, most frequent first. A 32x32 image becomes (32/p)^2 tokens; a patch outside the
vocabulary is written as an escape token plus its p*p pixels, so every grid has an exact encoding.

On the shapes set, 299 distinct 2x2 patches cover every training image, and the 4,096 most frequent
4x4 patches cover 98.5% of training patches (94% of held-out ones). numpy only: the model keeps the
vocabulary as a buffer and encodes batches itself (seqgen/families/text2pixel/model.py).
"""

from __future__ import annotations

import numpy as np
from einops import rearrange


def to_patches(grids: np.ndarray, p: int) -> np.ndarray:
    """(N, H, W) -> (N, H/p * W/p, p*p) patches in raster order, pixels in raster order inside."""
    N, H, W = grids.shape
    if H % p or W % p:
        raise ValueError(f"a {H}x{W} grid does not split into {p}x{p} patches")
    return rearrange(np.asarray(grids), "n (h py) (w px) -> n (h w) (py px)", py=p, px=p)


def from_patches(patches: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of to_patches: (N, L, p*p) -> (N, H, W)."""
    p = int(round(patches.shape[-1] ** 0.5))
    return rearrange(np.asarray(patches), "n (h w) (py px) -> n (h py) (w px)", h=height // p, py=p, px=p)


def fit_vocab(grids: np.ndarray, p: int, max_vocab: int) -> np.ndarray:
    """The max_vocab most frequent p x p patches of grids -> (V, p*p) uint8, most frequent first
    (ties broken by the patch's bytes, so the vocabulary is deterministic)."""
    flat = to_patches(grids, p).reshape(-1, p * p)
    uniq, counts = np.unique(flat, axis=0, return_counts=True)    # rows sorted lexicographically
    order = np.argsort(-counts, kind="stable")[:max_vocab]
    return np.ascontiguousarray(uniq[order], dtype=np.uint8)


def coverage(grids: np.ndarray, vocab: np.ndarray) -> float:
    """Fraction of the patches of grids that the vocabulary holds (the rest are escapes)."""
    p = int(round(vocab.shape[1] ** 0.5))
    flat = to_patches(grids, p).reshape(-1, p * p)
    known = {bytes(r) for r in np.asarray(vocab, dtype=np.uint8)}
    return float(np.mean([bytes(r) in known for r in flat.astype(np.uint8)]))
