"""Caption -> 32x32 -> 128x128: a model that draws images, followed by one that transforms them
(`sample.py ckpt=<text2pixel> upsampler_ckpt=<upsampler>`), one of the two places that compose families.

Files: <out>.png becomes the grid of (input shown at 4x, upsampled) pairs, and per sample
<stem>_<i>_32.png / <stem>_<i>_128.png at exact size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from seqgen import families
from seqgen.app.load import load_model
from seqgen.core.errors import ConfigError
from seqgen.data.images.codec import PixelCodec, grid_image, save_png, upsample_nearest


@dataclass
class PipelineArgs:
    upsampler_ckpt: str | None = None   # images: also upsample the drawn images with this checkpoint


@dataclass
class SecondStage:
    fam: object
    model: object
    state: dict


def load_second_stage(path, first_fam, first_state: dict, device) -> SecondStage | None:
    """Load and check the second stage before anything is drawn: it must take images, and in the
    palette the first stage draws in."""
    if not path:
        return None

    model, _, state = load_model(path, device)
    return check_second_stage(path, model, state, first_fam, first_state)


def check_second_stage(path, model, state: dict, first_fam, first_state: dict) -> SecondStage:
    """A loaded second stage, checked against the first (the demo loads both through its cache)."""
    fam = families.get(state["model_name"])
    if fam.transform_images is None:
        raise ConfigError(f"upsampler_ckpt={path} holds a '{fam.name}' model, which does not take images")
    if "codec" not in first_state:
        raise ConfigError(f"upsampler_ckpt= needs a checkpoint that draws images; a '{first_fam.name}' one does not")
    if not np.array_equal(PixelCodec.from_json(state["codec"]).palette,
                          PixelCodec.from_json(first_state["codec"]).palette):
        raise ConfigError(f"upsampler_ckpt={path} was trained with another palette than this {first_fam.name} "
                          f"model's {PixelCodec.from_json(first_state['codec']).size} colours: train both stages "
                          f"on the same dataset")
    return SecondStage(fam, model, state)


def run_second_stage(second: SecondStage, result: dict, sc, args, device) -> dict:
    lo, codec, out = result["images"], result["codec"], result["out"]
    t0 = time.perf_counter()
    hi = second.fam.transform_images(second.model, second.state, lo, sc, args, device)
    print(f"[seqgen] upsampled {len(hi)} image(s) {hi.shape[-1] // lo.shape[-1]}x in {time.perf_counter() - t0:.1f} s",
          flush=True)
    f = hi.shape[-1] // lo.shape[-1]
    pairs = [im for a, b in zip(lo, hi) for im in (upsample_nearest(a, f), b)]
    grid_image(pairs, codec, None, scale=1, ncols=2 * min(len(lo), 4)).save(out)
    for i, (a, b) in enumerate(zip(lo, hi)):
        save_png(a, codec, out.with_name(f"{out.stem}_{i}_{a.shape[0]}.png"))
        save_png(b, codec, out.with_name(f"{out.stem}_{i}_{b.shape[0]}.png"))
    print(f"[seqgen] pairs (input at {f}x, upsampled) written to {out}", flush=True)
    return {**result, "hi_images": hi}
