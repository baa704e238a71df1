"""Which emoji a drawn 32x32 image shows: a nearest-neighbour glyph classifier fitted on the dataset's
own renders, the emoji counterpart of the shapes fidelity checker.

Templates are the real 32x32 renders: each glyph alone (the whole image) and each glyph at half size
in the left and right slot of a two-glyph scene (rows 8-23, columns 0-15 / 16-31). A drawing is
compared in RGB, at the best of nine one-pixel shifts, with every template of its kind; it names the
nearest. Being fitted on renders rather than learned, it shares no blind spot with the generator.
"""

from __future__ import annotations

import numpy as np

LEFT, RIGHT = (slice(8, 24), slice(0, 16)), (slice(8, 24), slice(16, 32))


def _shifts(rgb: np.ndarray) -> np.ndarray:
    """(N, h, w, 3) -> (N, 9, h, w, 3): the image moved by -1..1 pixels (edges repeated)."""
    p = np.pad(rgb, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[1:3]
    return np.stack([p[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 1)


class GlyphClassifier:
    def __init__(self, codec, singles: dict, halves: dict):
        self.codec = codec
        self.single_chars, self.single = list(singles), np.stack(list(singles.values())).astype(np.float32)
        self.half_chars, self.half = list(halves), np.stack(list(halves.values())).astype(np.float32)

    @classmethod
    def fit(cls, data) -> "GlyphClassifier":
        """From a prepared emoji dataset (its {split}_scenes.json name the glyphs of every image)."""
        singles, halves = {}, {}
        for split in ("train", "valid", "test"):
            if not data.count(split):
                continue
            lo, scenes = data.lo(split), data.scenes(split)
            for grid, scene in zip(lo, scenes):
                g = scene["glyphs"]
                if len(g) == 1:
                    singles.setdefault(g[0], data.codec.dequantize(np.asarray(grid)))
                else:
                    rgb = data.codec.dequantize(np.asarray(grid))
                    halves.setdefault(g[0], rgb[LEFT])
                    halves.setdefault(g[1], rgb[RIGHT])
        return cls(data.codec, singles, halves)

    def _nearest(self, rgb: np.ndarray, templates: np.ndarray, chars: list) -> list:
        shifted = _shifts(rgb.astype(np.float32))                              # (N, 9, h, w, 3)
        flat_t = templates.reshape(len(templates), -1)                          # (T, D)
        out = []
        for s in shifted:
            flat = s.reshape(9, -1)
            d = (flat ** 2).sum(1)[:, None] - 2 * flat @ flat_t.T + (flat_t ** 2).sum(1)[None]   # (9, T)
            out.append(chars[int(d.min(0).argmin())])
        return out

    def single_glyph(self, grids) -> list:
        """(N, 32, 32) palette images -> the glyph each shows alone."""
        return self._nearest(self.codec.dequantize(np.asarray(grids)), self.single, self.single_chars)

    def pair(self, grids) -> list[tuple]:
        """(N, 32, 32) two-glyph scenes -> (left glyph, right glyph) each."""
        rgb = self.codec.dequantize(np.asarray(grids))
        left = self._nearest(rgb[:, LEFT[0], LEFT[1]], self.half, self.half_chars)
        right = self._nearest(rgb[:, RIGHT[0], RIGHT[1]], self.half, self.half_chars)
        return list(zip(left, right))


def score(classifier: GlyphClassifier, grids, scenes: list[dict]) -> dict:
    """Fractions of drawings the classifier reads as their caption's glyphs: `single` (one-glyph
    captions), `pair_both` (both glyphs of a scene, each on its side), `pair_any` (at least one)."""
    grids = np.asarray(grids)
    one = [i for i, s in enumerate(scenes) if len(s["glyphs"]) == 1]
    two = [i for i, s in enumerate(scenes) if len(s["glyphs"]) == 2]
    out = {}
    if one:
        got = classifier.single_glyph(grids[one])
        out["single"] = float(np.mean([g == scenes[i]["glyphs"][0] for g, i in zip(got, one)]))
    if two:
        got = classifier.pair(grids[two])
        hits = [(a == scenes[i]["glyphs"][0], b == scenes[i]["glyphs"][1]) for (a, b), i in zip(got, two)]
        out["pair_both"] = float(np.mean([a and b for a, b in hits]))
        out["pair_any"] = float(np.mean([a or b for a, b in hits]))
    return out
