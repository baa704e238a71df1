"""synthesize(cfg): the entry point behind scripts/synthesize.py (texture, fill, extrapolate, text, analogy)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.schema import key
from seqgen.data.sources import read_text_file
from seqgen.texture.analogy_run import run_analogy
from seqgen.texture.efros_leung import EfrosLeungConfig, TextureError, extrapolate, fill_holes, synthesize
from seqgen.texture.filters import FILTERS
from seqgen.texture.images import load_image, save_png, side_by_side, texture_distance
from seqgen.texture.text import TextSampler, text_stats


@dataclass
class SynthConfig:
    mode: str = key("texture", choices=("texture", "fill", "extrapolate", "text", "analogy"))
    image: str = "skimage:brick"     # a file path or skimage:NAME
    resize: int | None = key(128, ge=1)   # scale the input to this width first (null: as is)
    crop: int | None = key(64, ge=1)      # then take a centred square sample of this side (null: all)
    size: int = key(128, ge=1)       # texture: output side
    window: int = key(11, ge=3, odd=True)
    windows: list | None = None      # texture / text: several windows side by side, e.g. [5,11,21]
    epsilon: float = key(0.1, ge=0)   # candidates: SSD <= best * (1 + epsilon)
    seed: int = 0
    device: str = "cpu"              # cpu | cuda
    # float64 keeps exact ties exact; float32 for GPUs with slow float64
    dtype: str = key("float64", choices=("float64", "float32"))
    hole: int = key(24, ge=1)        # fill: side of a centred square hole ...
    mask: str | None = None          # ... or a mask image (white = fill)
    border: int = key(16, ge=1)      # extrapolate: pixels added on each side
    text: str | None = None          # text: source text file
    unit: str = key("char", choices=("char", "word"))   # text: char | word (the symbols matched and copied)
    length: int = key(1000, ge=1)    # text: symbols to write
    out: str | None = None           # PNG / text path; default outputs/texture/<mode>_w<window>_s<seed>.*
    a: str | None = None             # analogy: A, the example before filtering (file or skimage:NAME)
    a_prime: str | None = None       # analogy: A′, A filtered (a file of A's size) ...
    filter: str | None = key(None, choices=(None, *FILTERS))   # ... or made from A (seqgen/texture/filters.py)
    b: str | None = None             # analogy: B, the image to filter as A -> A′ (filter=labels: b=random draws one)
    side: int | None = key(256, ge=1)   # analogy: scale A, A′, B so the longer side has this many pixels (null: as is)
    levels: int | None = key(None, ge=1)   # analogy: pyramid levels; null here and below: the filter's choice,
    kappa: float | None = key(None, ge=0)  #   else AnalogyConfig's default (seqgen/texture/analogy.py); coherence bias
    color: str | None = key(None, choices=(None, "b", "a_prime", "colorize"))   # analogy: b: A′ luma, B chroma;
    #   a_prime: A′ RGB; colorize: B luma, A′ chroma
    features: str | None = key(None, choices=(None, "luminance", "rgb"))   # analogy
    search: str | None = key(None, choices=(None, "auto", "exact", "patchmatch"))   # analogy
    max_pixels: int = key(50_000_000, ge=1)   # refuse input images larger than this (decompression bombs)


def _mask(cfg: SynthConfig, shape) -> np.ndarray:
    if cfg.mask:
        m = load_image(cfg.mask, key="mask", max_pixels=cfg.max_pixels)
        if m.shape[:2] != shape:
            raise TextureError(f"mask={cfg.mask} is {m.shape[0]}x{m.shape[1]}, the image {shape[0]}x{shape[1]}")
        return m.mean(-1) > 0.5
    h, w = shape
    if cfg.hole >= min(h, w):
        raise TextureError(f"hole={cfg.hole} does not fit in the {h}x{w} image")
    m = np.zeros(shape, dtype=bool)
    y, x = (h - cfg.hole) // 2, (w - cfg.hole) // 2
    m[y:y + cfg.hole, x:x + cfg.hole] = True
    return m


def run(cfg: SynthConfig) -> dict:
    if cfg.mode == "analogy":
        return run_analogy(cfg)
    windows = list(cfg.windows or [cfg.window])
    stem = f"{cfg.mode}_w{'-'.join(map(str, windows))}_s{cfg.seed}"
    if cfg.mode == "text":
        return _run_text(cfg, windows, stem)
    sample = load_image(cfg.image, cfg.resize, cfg.crop, max_pixels=cfg.max_pixels)
    outs, report = [], {"mode": cfg.mode, "image": cfg.image, "sample_shape": list(sample.shape)}
    for w in windows:
        el = EfrosLeungConfig(window=w, epsilon=cfg.epsilon, dtype=cfg.dtype)
        t = time.perf_counter()
        if cfg.mode == "texture":
            out = synthesize(sample, cfg.size, el, cfg.seed, cfg.device)
        elif cfg.mode == "fill":
            out = fill_holes(sample, _mask(cfg, sample.shape[:2]), el, cfg.seed, cfg.device)
        elif cfg.mode == "extrapolate":
            out = extrapolate(sample, cfg.border, el, cfg.seed, cfg.device)
        else:
            raise TextureError(f"mode must be texture, fill, extrapolate, text or analogy; got {cfg.mode!r}")
        report[f"w{w}"] = {"seconds": round(time.perf_counter() - t, 3), **texture_distance(sample, out)}
        outs.append(out)
    path = Path(cfg.out or f"outputs/texture/{stem}.png")
    if len(windows) == 1:
        save_png(outs[0], path)
    else:
        save_png(side_by_side([sample] + outs, ["sample"] + [f"window {w}" for w in windows]) / 255.0, path)
    report["out"] = str(path)
    print(json.dumps(report))
    return report


def _run_text(cfg: SynthConfig, windows, stem) -> dict:
    source = read_text_file(cfg.text, "text")
    path = Path(cfg.out or f"outputs/texture/{stem}.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.unit not in ("char", "word"):
        raise TextureError(f"unit must be char or word, got {cfg.unit!r}")
    symbols = source if cfg.unit == "char" else source.split()
    rows, texts = [], []
    for w in windows:
        out = TextSampler(symbols, w, cfg.epsilon).generate(cfg.length, cfg.seed)
        rows.append({"window": w, **text_stats(out, source)})
        texts.append(f"== window {w} ==\n{out}\n")
    path.write_text("\n".join(texts), encoding="utf-8")
    print("\n".join(texts))
    print("| window | copy rate | real-word rate |\n|---|---|---|")
    for r in rows:
        print(f"| {r['window']} | {r['copy_rate']:.2f} | {r['real_word_rate']:.2f} |")
    print(f"[seqgen] written to {path}")
    return {"rows": rows, "out": str(path)}
