"""A text2pixel checkpoint's held-out quality beyond evaluate.py's one guided / unguided pair: bits
per pixel-token on every held-out split beside the pixel n-gram, and caption fidelity swept over
guidance scales (the scale a recipe should draw with). scripts/bench_text2pixel.py --ckpt prints both."""

from __future__ import annotations

import time

from seqgen.data.images.prepare import PreparedImages
from seqgen.data.subsets import spread
from seqgen.families.text2pixel.baseline import PixelNGram
from seqgen.families.text2pixel.evaluate import evaluate_pixels, scorer_for


def heldout_bits(model, data: PreparedImages, images: int | None, device, tokenizer=None,
                 batch_size: int = 16) -> dict:
    """Bits per pixel-token of (up to `images`, evenly spread) valid and test images, and the pixel
    n-gram's fitted on train -> {<split>_bits_per_pixel, <split>_baseline_bits_per_pixel,
    <split>_bits_vs_baseline (relative)} for each held-out split the data has."""
    ngram = PixelNGram(data.codec.size).fit(data.lo("train"))
    out = {}
    for split in ("valid", "test"):
        if not data.count(split):
            continue
        ours = evaluate_pixels(model, data, split, batch_size, device, images, tokenizer=tokenizer)
        ours = ours[f"{split}/bits_per_pixel"]
        lo = data.lo(split)
        base = ngram.bits_per_pixel(lo[spread(len(lo), images)])
        out.update({f"{split}_bits_per_pixel": ours, f"{split}_baseline_bits_per_pixel": base,
                    f"{split}_bits_vs_baseline": ours / base - 1})
        print(f"{split}: {ours:.4f} bits per pixel-token, pixel n-gram {base:.4f} "
              f"({100 * (ours / base - 1):+.1f}%)", flush=True)
    return out


def guidance_sweep(model, data: PreparedImages, scales, images: int, device, seed: int = 0,
                   tokenizer=None) -> dict:
    """Caption fidelity (the data's scorer) unguided and at each guidance scale, the same seeded draws at
    each -> {noguide_<score>, g<scale>_<score>, ..., best_guidance, guidance_gain: the best scale's
    headline score (the scorer's, else its first: emoji's `single`) over the unguided one}."""
    scorer = scorer_for(data)
    if scorer is None:
        raise ValueError(f"the {data.meta['dataset']!r} images have no caption checker, so there is no "
                         "fidelity to sweep guidance over (shapes and emoji have one)")
    out, headline = {}, scorer.headline
    for scale in (None, *scales):
        t = time.perf_counter()
        s = scorer.score(model, data, images, scale, device, seed=seed, tokenizer=tokenizer)
        headline = headline or next(iter(s))
        name = "noguide" if scale is None else f"g{scale:g}"
        out.update({f"{name}_{k}": v for k, v in s.items()})
        print(f"guidance {scale}: " + " ".join(f"{k} {v:.3f}" for k, v in s.items())
              + f" ({time.perf_counter() - t:.0f} s)", flush=True)
    best = max(scales, key=lambda g: out[f"g{g:g}_{headline}"])
    out.update(best_guidance=best, guidance_gain=out[f"g{best:g}_{headline}"] - out[f"noguide_{headline}"])
    return out
