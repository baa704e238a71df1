"""Augmentations that keep a visual sentence's rule: the surface changes, the task does not.

Three kinds (`data.augment`), each applied to every image of a sentence at once, so the example pairs
and the query pair still show one rule:

    colours    a random permutation of the eight object colours (SegGPT's "random colouring"): every
               task commutes with it (recolour c1 -> c2 becomes pi(c1) -> pi(c2), colourise's target
               colour is permuted too); white, black and grey, the backgrounds and segment's output,
               stay where they are
    dihedral   one of the eight flips / quarter turns of the square, drawn from the elements the
               sentence's tasks commute with (COMMUTES): solving the turned input gives the turned
               answer. mirror commutes with the two flips and the half turn only (a quarter turn
               would swap its axis), shift only with the flip along its direction's perpendicular
    translate  every image moved by one offset (vacated pixels take the image's background), drawn
               among the offsets that keep every object whole; every task but mirror commutes with it

The rule dicts are updated (colours permuted, `transform` and `offset` recorded), so a sentence
still says which rule it shows. `solve(task, rule, image, bg)` is a pixel-level reference solver for
the seven tasks that have one (the tests check apply-then-solve == solve-then-apply with it).
"""

from __future__ import annotations

import numpy as np

from seqgen.core.errors import ConfigError
from seqgen.data.images import shapes as S
from seqgen.data.images.visual import AUGMENTS, SHIFT, edges

N_FIXED = len(S.BACKGROUNDS)        # palette indices 0..2: white, black, grey (never permuted)
N_COLOURS = len(S.COLOURS)          # palette indices 3..10: the object colours

# the eight elements of the square's symmetry group, as functions of an (..., S, S) array
DIHEDRAL = {
    "identity": lambda x: x,
    "flip_h": lambda x: x[..., :, ::-1],                    # left-right
    "flip_v": lambda x: x[..., ::-1, :],                    # upside-down
    "rot180": lambda x: x[..., ::-1, ::-1],
    "rot90": lambda x: np.rot90(x, 1, axes=(-2, -1)),
    "rot270": lambda x: np.rot90(x, -1, axes=(-2, -1)),
    "transpose": lambda x: np.swapaxes(x, -1, -2),
    "antitranspose": lambda x: np.rot90(np.swapaxes(x, -1, -2), 2, axes=(-2, -1)),
}
_ALL = tuple(DIHEDRAL)
_FLIPS = ("identity", "flip_h", "flip_v", "rot180")     # the subgroup that keeps both axes


def commuting(rule: dict) -> tuple[str, ...]:
    """The dihedral elements every task of the rule commutes with."""
    allowed = set(_ALL)
    for t in rule["tasks"]:
        if t == "mirror":
            allowed &= set(_FLIPS)
        elif t == "shift":
            allowed &= {"identity", "flip_v"} if rule["shift"] in ("left", "right") else {"identity", "flip_h"}
    return tuple(g for g in _ALL if g in allowed)


def translates(rule: dict) -> bool:
    """mirror maps a position x to S-1-x, so moving the input moves its answer the other way."""
    return "mirror" not in rule["tasks"]


def permute_colours(images: np.ndarray, perm) -> np.ndarray:
    """Object colour i becomes perm[i] (indices into the eight colours) in every image."""
    lut = np.concatenate([np.arange(N_FIXED), N_FIXED + np.asarray(perm)]).astype(images.dtype)
    return lut[images]


def foreground_box(images: np.ndarray, bgs: np.ndarray):
    """(n, S, S) images and their backgrounds -> (top, bottom, left, right) rows / columns free of
    foreground on every side, over all images (how far they can all move)."""
    S_ = images.shape[-1]
    fg = images != np.asarray(bgs)[:, None, None]
    rows, cols = np.nonzero(fg.any(0).any(1))[0], np.nonzero(fg.any(0).any(0))[0]
    if len(rows) == 0:
        return S_, S_, S_, S_
    return int(rows[0]), int(S_ - 1 - rows[-1]), int(cols[0]), int(S_ - 1 - cols[-1])


def translate(images: np.ndarray, bgs: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Every image moved by (dy, dx); the pixels it leaves take that image's background."""
    out = np.empty_like(images)
    for i, (im, bg) in enumerate(zip(images, bgs)):
        out[i] = bg
        H, W = im.shape
        ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
        xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
        out[i][yd, xd] = im[ys, xs]
    return out


def augment(item: dict, rng: np.random.Generator, kinds) -> dict:
    """A sentence from seqgen.data.images.visual.draw -> the same rule on another surface."""
    unknown = [k for k in kinds if k not in AUGMENTS]
    if unknown:
        raise ConfigError(f"data.augment={list(kinds)}: expected a list of {list(AUGMENTS)}")
    images, bgs, rule = item["images"], item["bgs"], dict(item["rule"])
    if "colours" in kinds:
        perm = rng.permutation(N_COLOURS)
        images = permute_colours(images, perm)
        for k in ("c_from", "c_to", "colour"):
            if rule.get(k) is not None:
                rule[k] = int(perm[rule[k]])
    if "dihedral" in kinds:
        elems = commuting(rule)
        g = elems[rng.integers(len(elems))]
        images = np.ascontiguousarray(DIHEDRAL[g](images))
        rule["transform"] = g
    if "translate" in kinds and translates(rule):
        top, bottom, left, right = foreground_box(images, bgs)
        dy, dx = int(rng.integers(-top, bottom + 1)), int(rng.integers(-left, right + 1))
        images = translate(images, bgs, dy, dx)
        rule["offset"] = (dy, dx)
    return {**item, "images": images, "rule": rule}


# ---- reference solvers (the tests' ground truth for commuting) -----------------------------------------

def _fill_holes(fg: np.ndarray) -> np.ndarray:
    """fg with every background region not connected to the outside filled (4-connectivity)."""
    outside = np.zeros((fg.shape[0] + 2, fg.shape[1] + 2), bool)
    outside[0, :] = outside[-1, :] = outside[:, 0] = outside[:, -1] = True
    free = np.pad(~fg, 1, constant_values=True)
    while True:   # grow the outside through free pixels until it stops
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= free
        if (grown == outside).all():
            return ~outside[1:-1, 1:-1]
        outside = grown


SOLVABLE = ("recolour", "mirror", "shift", "outline", "segment", "colourise", "fill")


def solve(task: str, rule: dict, image: np.ndarray, bg: int) -> np.ndarray:
    """The answer of one single-task rule for one (S, S) input image on background bg, by pixels."""
    col = lambda i: N_FIXED + i   # noqa: E731  (colour index -> palette index)
    fg = image != bg
    if task == "recolour":
        return np.where(image == col(rule["c_from"]), col(rule["c_to"]), image).astype(image.dtype)
    if task == "colourise":
        return np.where(image == S.INDEX["grey"], col(rule["colour"]), image).astype(image.dtype)
    if task == "segment":
        return np.where(fg, S.INDEX["white"], S.INDEX["black"]).astype(image.dtype)
    colour = image[fg][0] if fg.any() else bg
    if task == "outline":
        return np.where(edges(fg), colour, bg).astype(image.dtype)
    if task == "fill":
        return np.where(_fill_holes(fg), colour, bg).astype(image.dtype)
    if task == "mirror":
        return np.ascontiguousarray(image[:, ::-1] if rule["mirror"] == "horizontal" else image[::-1])
    if task == "shift":
        s = SHIFT * image.shape[-1] // 16
        dy, dx = {"left": (0, -s), "right": (0, s), "up": (-s, 0), "down": (s, 0)}[rule["shift"]]
        return translate(image[None], np.array([bg]), dy, dx)[0]
    raise ConfigError(f"no pixel-level solver for task {task!r} (solvable: {list(SOLVABLE)})")
