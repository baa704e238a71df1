"""Caption fidelity on `shapes`: recover shape, colour, size and position from a 32x32 index grid.

A deterministic checker, no learned parts: connected regions of non-background pixels are the
drawn objects; colour is a region's most frequent index; shape and size come together from the best
template match (intersection over union against every shape x size rendered by the dataset's own
renderer and 4x rule, at small offsets); position is the nearest anchor to the region's box centre.
Each object the caption mentions is paired with a region (the pairing that agrees best), and each
attribute scores 1 when it matches the caption.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from seqgen.data.images import shapes as S
from seqgen.data.images.codec import reduce_blocks

ATTRIBUTES = ("shape", "colour", "size", "position")
MIN_AREA = 6  # regions smaller than this (in 32x32 pixels) are noise, not objects


@lru_cache(maxsize=1)
def _templates() -> list[tuple[str, str, np.ndarray]]:
    """(shape, size, mask cropped to its box) at 32x32, drawn and reduced exactly as the dataset does."""
    out = []
    for shape in S.SHAPES:
        for size in S.SIZES:
            scene = {"background": "white", "objects": [{"shape": shape, "colour": "red", "size": size,
                                                          "where": "in the centre"}]}
            lo = reduce_blocks(S.render(scene), S.FACTOR) != 0
            rows, cols = np.nonzero(lo)
            out.append((shape, size, lo[rows.min():rows.max() + 1, cols.min():cols.max() + 1]))
    return out


def _iou_at(mask: np.ndarray, tmpl: np.ndarray) -> float:
    """Best IoU of two boolean crops aligned at their centres, over offsets of -1..1 pixels."""
    H = max(mask.shape[0], tmpl.shape[0]) + 4
    W = max(mask.shape[1], tmpl.shape[1]) + 4

    def place(m, dy=0, dx=0):
        canvas = np.zeros((H, W), dtype=bool)
        y = (H - m.shape[0]) // 2 + dy
        x = (W - m.shape[1]) // 2 + dx
        canvas[y:y + m.shape[0], x:x + m.shape[1]] = m
        return canvas

    a = place(mask)
    best = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            b = place(tmpl, dy, dx)
            best = max(best, (a & b).sum() / max(1, (a | b).sum()))
    return float(best)


def regions(grid: np.ndarray, background: int) -> list[dict]:
    """Connected (8-neighbour) regions of one non-background colour each, largest first (the objects
    of a scene never share a colour, so touching objects stay apart)."""
    from scipy import ndimage

    masks = []
    for colour in np.unique(grid):
        if colour == background:
            continue
        labels, n = ndimage.label(grid == colour, structure=np.ones((3, 3), dtype=int))
        masks += [labels == k for k in range(1, n + 1)]
    out = []
    for m in masks:
        area = int(m.sum())
        if area < MIN_AREA:
            continue
        rows, cols = np.nonzero(m)
        crop = m[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        colour = int(np.bincount(grid[m]).argmax())
        # box centre in 128x128 coordinates (pixel centres), to compare with the anchors
        cy = (rows.min() + rows.max() + 1) / 2 * S.FACTOR
        cx = (cols.min() + cols.max() + 1) / 2 * S.FACTOR
        out.append({"area": area, "mask": crop, "colour": colour, "centre": (cx, cy)})
    return sorted(out, key=lambda r: -r["area"])


def describe(region: dict) -> dict:
    """What the checker sees in one region: shape, size, colour name, position anchor."""
    shape, size, _ = max(((s, z, _iou_at(region["mask"], t)) for s, z, t in _templates()), key=lambda r: r[2])
    cx, cy = region["centre"]
    where = min(S.ANCHORS, key=lambda a: (S.ANCHORS[a][0] - cx) ** 2 + (S.ANCHORS[a][1] - cy) ** 2)
    return {"shape": shape, "size": size, "colour": S.PALETTE_NAMES[region["colour"]], "position": where}


def score(grid, text: str) -> dict:
    """Attribute accuracies of one 32x32 grid against its caption: {shape, colour, size, position,
    all (every attribute of every object right), background} as fractions in [0, 1]."""
    grid = np.asarray(grid)
    want = S.parse_caption(text)
    bg = int(np.bincount(np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])).argmax())
    found = [describe(r) for r in regions(grid, bg)[:len(want["objects"])]]
    objs = want["objects"]
    key = {"shape": "shape", "colour": "colour", "size": "size", "position": "where"}
    best_total, best, best_order = -1, [], ()
    for order in permutations(range(len(objs)), len(found)):   # pair caption objects with regions
        matches = [{a: found[r][a] == objs[i][key[a]] for a in ATTRIBUTES} for r, i in enumerate(order)]
        total = sum(sum(m.values()) for m in matches)
        if total > best_total:
            best_total, best, best_order = total, matches, order
    # caption objects without a region score 0 on every attribute
    n = len(objs)
    out = {a: sum(m[a] for m in best) / n for a in ATTRIBUTES}
    perfect = sum(all(m.values()) for m in best)
    out["mean"] = float(np.mean([out[a] for a in ATTRIBUTES]))
    out["all"] = float(perfect == n)
    out["background"] = float(S.PALETTE_NAMES[bg] == want["background"])
    if "relation" in want:   # two objects: is the first left of (above) the second, wherever they are?
        centres = {i: cen for i, cen in zip(best_order, centres_of(grid, bg, len(objs)))}
        axis = 0 if want["relation"] == "left of" else 1
        out["relation"] = float(len(centres) == 2 and centres[0][axis] < centres[1][axis])
    return out


def centres_of(grid, background: int, n: int) -> list[tuple]:
    """Box centres of the n largest regions (the order describe() sees them in)."""
    return [r["centre"] for r in regions(np.asarray(grid), background)[:n]]


def score_many(grids, texts) -> dict:
    """Mean of score() over images: per attribute, `mean` (over the four attributes) and `all`;
    `relation` over the two-object captions only."""
    rows = [score(g, t) for g, t in zip(grids, texts)]
    keys = dict.fromkeys(k for r in rows for k in r)
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
