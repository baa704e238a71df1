"""The pixel n-gram: next pixel from its already-drawn neighbours, by counting (the causal baseline).

In raster order the drawn neighbours of pixel (r, c) are W = (r, c-1), NW = (r-1, c-1), N = (r-1, c)
and NE = (r-1, c+1); outside the image they read a border symbol K. Probabilities interpolate four
nested contexts with Witten-Bell smoothing, (W, NW, N, NE) -> (W, N) -> (W) -> add-one unigram:

    P_n(x | h) = (c(h, x) + T(h) * P_{n-1}(x | h')) / (c(h) + T(h)),   T(h) = distinct x seen after h

Counts are sparse (sorted int64 keys, looked up with searchsorted), so palettes up to 36 colours fit.
It sees no caption: it is the "n-gram" rung for pixels that a caption-conditioned transformer must beat.
"""

from __future__ import annotations

import numpy as np

ORDERS = (("W",), ("W", "N"), ("W", "NW", "N", "NE"))   # lowest to highest context


def neighbours(images: np.ndarray, K: int) -> dict[str, np.ndarray]:
    """images (N, H, W) -> {"W", "NW", "N", "NE": (N, H, W) int64}, K where outside the image."""
    imgs = np.asarray(images, dtype=np.int64)
    n, H, W = imgs.shape
    pad = np.full((n, H + 1, W + 2), K, dtype=np.int64)
    pad[:, 1:, 1:-1] = imgs
    return {"W": pad[:, 1:, :-2], "NW": pad[:, :-1, :-2], "N": pad[:, :-1, 1:-1], "NE": pad[:, :-1, 2:]}


class PixelNGram:
    def __init__(self, n_colors: int):
        self.K = int(n_colors)
        self.tables = []          # per order: (ctx keys, ctx totals, ctx types, pair keys, pair counts)
        self.unigram = np.ones(self.K) / self.K

    def _codes(self, nb: dict, order) -> np.ndarray:
        code = np.zeros_like(nb["W"])
        for name in order:
            code = code * (self.K + 1) + nb[name]
        return code

    def fit(self, images: np.ndarray) -> "PixelNGram":
        imgs = np.asarray(images, dtype=np.int64)
        if imgs.size and (imgs.min() < 0 or imgs.max() >= self.K):
            raise ValueError(f"pixel values must lie in 0..{self.K - 1}")
        x = imgs.reshape(-1)
        counts = np.bincount(x, minlength=self.K)
        self.unigram = (counts + 1) / (counts.sum() + self.K)
        nb = neighbours(imgs, self.K)
        self.tables = []
        for order in ORDERS:
            ctx = self._codes(nb, order).reshape(-1)
            pair_keys, pair_counts = np.unique(ctx * self.K + x, return_counts=True)
            pair_ctx = pair_keys // self.K
            ctx_keys, first = np.unique(pair_ctx, return_index=True)
            totals = np.add.reduceat(pair_counts, first)
            types = np.diff(np.append(first, len(pair_ctx)))
            self.tables.append((ctx_keys, totals, types, pair_keys, pair_counts))
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.zeros(query.shape, dtype=np.float64)
        pos = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
        return np.where(keys[pos] == query, values[pos], 0).astype(np.float64)

    def _prob(self, ctx_codes: list[np.ndarray], x: np.ndarray) -> np.ndarray:
        """P(x | contexts): ctx_codes per order and x broadcastable to the same shape."""
        p = self.unigram[x]
        for (ctx_keys, totals, types, pair_keys, pair_counts), ctx in zip(self.tables, ctx_codes):
            c_h = self._lookup(ctx_keys, totals, ctx)
            t_h = self._lookup(ctx_keys, types, ctx)
            c_hx = self._lookup(pair_keys, pair_counts, ctx * self.K + x)
            p = np.where(c_h > 0, (c_hx + t_h * p) / np.maximum(c_h + t_h, 1), p)
        return p

    def log_prob(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W) -> (N, H, W) natural-log probability of each pixel given its drawn neighbours."""
        imgs = np.asarray(images, dtype=np.int64)
        nb = neighbours(imgs, self.K)
        return np.log(self._prob([self._codes(nb, o) for o in ORDERS], imgs))

    def bits_per_pixel(self, images: np.ndarray) -> float:
        return float(-self.log_prob(images).mean() / np.log(2))

    def distribution(self, nb: dict) -> np.ndarray:
        """Next-pixel distributions for neighbour arrays of shape (n,) -> (n, K)."""
        ctx = [self._codes(nb, o)[:, None] for o in ORDERS]
        return self._prob(ctx, np.arange(self.K)[None, :])

    def sample(self, n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
        """Draw n images in raster order -> (n, height, width) uint8."""
        rng = np.random.default_rng(seed)
        out = np.full((n, height + 1, width + 2), self.K, dtype=np.int64)   # border-padded canvas
        for r in range(height):
            for c in range(width):
                nb = {"W": out[:, r + 1, c], "NW": out[:, r, c], "N": out[:, r, c + 1], "NE": out[:, r, c + 2]}
                p = self.distribution(nb)
                p /= p.sum(1, keepdims=True)
                u = rng.random((n, 1))
                out[:, r + 1, c + 1] = np.minimum((p.cumsum(1) < u).sum(1), self.K - 1)
        return out[:, 1:, 1:-1].astype(np.uint8)

    def state(self) -> dict:
        return {"K": self.K, "unigram": self.unigram, "tables": self.tables}
