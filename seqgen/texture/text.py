"""Efros-Leung over symbols: the "Homage to Shannon" text sampler.

Match the last `window` symbols of what has been written against every position of the source and
copy the symbol that follows one of the near-best matches, picked at random. With the Hamming
distance, a context that occurs in the source has best distance 0 and (1 + eps) * 0 admits only the
exact occurrences, so the sampler is a (window+1)-gram sampler drawing continuations in proportion to
their counts. Exact occurrences are found through a hash index of every window; only a context that
never occurs falls back to a vectorised distance over all positions.
"""

from __future__ import annotations

import re

import numpy as np

from seqgen.texture.efros_leung import TextureError


class TextSampler:
    """source: a string (characters are the symbols) or a list of words (words are the symbols)."""

    def __init__(self, source, window: int, epsilon: float = 0.1):
        if window < 1:
            raise TextureError(f"window must be >= 1, got {window}")
        if len(source) <= window:
            raise TextureError(f"the source text ({len(source)} symbols) must be longer than the "
                               f"window ({window})")
        self.joiner = "" if isinstance(source, str) else " "
        self.source, self.window, self.epsilon = source, window, epsilon
        self.symbols = sorted(set(source))
        lookup = {c: i for i, c in enumerate(self.symbols)}
        self.ids = np.array([lookup[c] for c in source], dtype=np.int64)
        # index: window contents (as bytes) -> start positions whose *next* symbol exists
        n = len(self.ids) - window
        view = np.lib.stride_tricks.sliding_window_view(self.ids, window)[:n]
        keys = np.ascontiguousarray(view.astype(np.uint32)).view(f"V{4 * window}").ravel()
        order = np.argsort(keys, kind="stable")
        self._keys, self._pos = keys[order], order
        self._view = view

    def _matches(self, ctx: np.ndarray) -> np.ndarray:
        key = np.ascontiguousarray(ctx.astype(np.uint32)).view(f"V{4 * self.window}")[0]
        lo, hi = np.searchsorted(self._keys, key, "left"), np.searchsorted(self._keys, key, "right")
        if hi > lo:
            return self._pos[lo:hi]
        d = (self._view != ctx[None, :]).sum(1)  # no exact occurrence: near-best by Hamming distance
        return np.nonzero(d <= d.min() * (1 + self.epsilon))[0]

    def generate(self, length: int, seed: int = 0, start: int | None = None) -> str:
        """length symbols: the first `window` copied from the source at `start` (random if None)."""
        rng = np.random.default_rng(seed)
        w = self.window
        if start is None:
            start = int(rng.integers(0, len(self.ids) - w))
        out = list(self.ids[start:start + w])
        while len(out) < length:
            cands = self._matches(np.array(out[-w:], dtype=np.int64))
            j = cands[int(rng.random() * len(cands))]
            out.append(int(self.ids[j + w]))
        return self.joiner.join(self.symbols[i] for i in out[:length])


_WORD = re.compile(r"[A-Za-z']+")


def text_stats(output: str, source: str, copy_len: int = 20) -> dict:
    """copy_rate: share of output windows of copy_len characters found verbatim in the source;
    real_word_rate: share of output words that are words of the source."""
    vocab = set(w.lower() for w in _WORD.findall(source))
    words = [w.lower() for w in _WORD.findall(output)]
    n = len(output) - copy_len + 1
    copied = sum(output[i:i + copy_len] in source for i in range(0, max(0, n), max(1, n // 400)))
    checked = len(range(0, max(0, n), max(1, n // 400)))
    return {"copy_rate": copied / checked if checked else 0.0,
            "real_word_rate": sum(w in vocab for w in words) / len(words) if words else 0.0}
