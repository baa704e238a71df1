"""How well a caption -> pixels model draws: bits per pixel-token on held-out images (beside the pixel
n-gram), and caption fidelity, scored by the checker the dataset declares (shapes: is the drawn shape /
colour / size / position the captioned one; emoji: are the drawn glyphs the captioned ones)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from seqgen.core.schema import key
from seqgen.data.images import glyphs
from seqgen.data.images.fidelity import score_many
from seqgen.data.images.prepare import (
    ImageDataConfig,
    PreparedImages,
    check_same_images,
    encode_caption,
    prepare_images,
)
from seqgen.data.prepare import pick_split
from seqgen.data.subsets import spread
from seqgen.families.base import data_from
from seqgen.families.text2pixel.baseline import PixelNGram
from seqgen.families.text2pixel.generate import draw, run_guidance
from seqgen.nn.sampling import eval_mode


@dataclass
class EvalArgs:
    images: int | None = key(500, ge=1)   # images scored for bits per pixel-token (null: all)
    fidelity_images: int = key(200, ge=0)   # captions drawn per fidelity score (datasets with a checker; 0: skip)
    guidance: float | str | None = "run"   # the guided fidelity's scale (unguided is reported too); "run":
    #                                        the checkpoint's text2pixel.guidance


@torch.no_grad()
def evaluate_pixels(model, data: PreparedImages, split: str, batch_size: int, device,
                    max_images: int | None = None, prefix: str | None = None, tokenizer=None) -> dict:
    """Mean cross-entropy of every pixel of (up to max_images, evenly spread) images of a split, each
    with its first caption (encoded by `tokenizer`, default the data's). Deterministic.
    -> {prefix/loss (nats), prefix/bits_per_pixel}."""
    prefix = prefix or split
    tokenizer = tokenizer or data.tokenizer
    lo, caps = data.lo(split), data.captions(split)
    pick = spread(len(lo), max_images)
    total, count = 0.0, 0
    with eval_mode(model):
        for s in range(0, len(pick), batch_size):
            ids = pick[s:s + batch_size]
            text = torch.tensor([encode_caption(tokenizer, caps[i][0], data.caption_len, strict=False)
                                 for i in ids], device=device)
            pixels = torch.from_numpy(np.ascontiguousarray(lo[ids])).reshape(len(ids), -1).long().to(device)
            total += model.nll(text, pixels).sum().item()   # exact code length, escapes included
            count += pixels.numel()
    nats = total / max(1, count)
    return {f"{prefix}/loss": nats, f"{prefix}/bits_per_pixel": nats / math.log(2)}


def fidelity(model, data: PreparedImages, n: int, guidance, device, seed: int, temperature=1.0,
             top_k=None, split: str = "test", progress: bool = False, tokenizer=None) -> dict:
    """Draw the first caption of n evenly spread `split` images and score them (shapes only)."""
    caps = data.captions(split)
    texts = [caps[i][0] for i in spread(len(caps), n)]
    grids = draw(model, tokenizer or data.tokenizer, texts, data.caption_len, device, guidance, temperature, top_k,
                 seed=seed, strict=False, progress=progress)
    return score_many(grids, texts)


def emoji_fidelity(model, data: PreparedImages, n: int, guidance, device, seed: int, temperature=1.0,
                   top_k=None, split: str = "test", progress: bool = False, tokenizer=None) -> dict:
    """Emoji: n single-glyph captions (distinct glyphs, from train: every glyph is there alone) and n
    held-out two-glyph scenes of `split`, drawn and read by the nearest-neighbour glyph classifier
    (seqgen/data/images/glyphs.py) -> {single, pair_both, pair_any}."""
    clf = glyphs.GlyphClassifier.fit(data)
    firsts = {}
    for caps, scene in zip(data.captions("train"), data.scenes("train")):
        if len(scene["glyphs"]) == 1:
            firsts.setdefault(scene["glyphs"][0], (caps[0], scene))
    singles = [firsts[c] for c in sorted(firsts)]
    singles = [singles[i] for i in spread(len(singles), n)]
    caps, scenes = data.captions(split), data.scenes(split)
    pairs = [(caps[i][0], scenes[i]) for i in spread(len(caps), n)]
    texts = [t for t, _ in singles + pairs]
    grids = draw(model, tokenizer or data.tokenizer, texts, data.caption_len, device, guidance, temperature, top_k,
                 seed=seed, strict=False, progress=progress)
    return glyphs.score(clf, grids, [s for _, s in singles + pairs])


def guided_and_unguided(names: tuple, guidance, score):
    """Yield (name, guidance, score(guidance), fresh) for the guided row names[0] and the unguided
    names[1]; with guidance null both rows are the same seeded draws, so they are drawn (and, where a
    caller prints when `fresh`, said) once."""
    drawn = {}
    for name, g in zip(names, (guidance, None)):
        fresh = g not in drawn
        if fresh:
            drawn[g] = score(g)
        yield name, g, drawn[g], fresh


@dataclass(frozen=True)
class Scorer:
    """Caption fidelity for the datasets one checker reads (PreparedImages.checker): draw and score."""

    rows: tuple            # figure names with the run's guidance and without: ("fidelity", "fidelity_noguide")
    score: Callable        # (model, data, n, guidance, device, seed, temperature, top_k, split, progress,
    #                        tokenizer) -> {figure: fraction}
    label: str             # how train.py's printout names it
    summary: Callable      # scores -> the printout's figures, e.g. "mean 0.993, all attributes right 0.96"
    headline: str | None = None   # evaluate.py reports this figure under the row's bare name


def _shapes_summary(scores: dict) -> str:
    return f"mean {scores['mean']:.3f}, all attributes right {scores['all']:.3f}"


# keyed by the checker a prepared dataset declares (seqgen.data.images.prepare.CHECKERS), never by its name
SCORERS = {
    "shapes": Scorer(("fidelity", "fidelity_noguide"), fidelity, "caption fidelity on held-out combinations",
                     _shapes_summary, headline="mean"),
    "glyphs": Scorer(("glyphs", "glyphs_noguide"), emoji_fidelity, "glyph fidelity",
                     lambda scores: ", ".join(f"{k} {v:.3f}" for k, v in scores.items())),
}


def scorer_for(data: PreparedImages) -> Scorer | None:
    """The caption-fidelity scorer of a prepared dataset (None: it has no ground truth to check against)."""
    return SCORERS.get(data.checker)


def figures(scorer: Scorer, name: str, scores: dict, seconds: float) -> dict:
    """evaluate.py's names for one row's scores: the headline under the bare name, the rest prefixed."""
    out = {name: scores[scorer.headline]} if scorer.headline else {}
    out.update({f"{name}_{k}": v for k, v in scores.items() if k != scorer.headline})
    out[f"{name}_seconds"] = seconds
    return out


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for text2pixel: bits per pixel-token, the pixel n-gram's beside it, and (a dataset
    with a checker: shapes, emoji) caption fidelity with and without guidance, on the checkpoint's own
    dataset."""
    dc = data_from(ImageDataConfig, state, ec.ckpt)
    data = prepare_images(dc, ec.data_root, verbose=False)
    check_same_images(data, state, ec.ckpt)
    split = pick_split([s for s in ("train", "valid", "test") if data.count(s)], ec.split, ec.ckpt)
    out = {"model": state["model_name"], "data": dc.name, "split": split}
    scores = evaluate_pixels(model, data, split, ec.batch_size, device, args.images, "x", tokenizer=tokenizer)
    out["bits_per_pixel"] = scores["x/bits_per_pixel"]
    lo = data.lo(split)
    out["ngram_bits_per_pixel"] = PixelNGram(data.codec.size).fit(data.lo("train")).bits_per_pixel(
        lo[spread(len(lo), args.images)])
    guidance = out["guidance"] = run_guidance(args.guidance, state)
    scorer = scorer_for(data)
    if scorer is not None and args.fidelity_images:
        def draw_and_score(g):
            return scorer.score(model, data, args.fidelity_images, g, device, ec.seed, split=split,
                                tokenizer=tokenizer)

        t0 = time.perf_counter()
        for name, _, scores, _ in guided_and_unguided(scorer.rows, guidance, draw_and_score):
            out.update(figures(scorer, name, scores, time.perf_counter() - t0))
            t0 = time.perf_counter()
    return out
