"""Caption -> 32x32 -> 128x128 from checkpoints, and upsampling an existing low-res PNG.

Backs scripts/sample.py for image models: `draw_and_upsample` (a text2pixel checkpoint, optionally
followed by `upsampler_ckpt`) and `upsample_file` (an upsampler checkpoint and `image=low.png`).
Files: <out>.png (the grid), and per sample <stem>_<i>_32.png / <stem>_<i>_128.png at exact size.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from seqgen.config import ConfigError
from seqgen.data.images.prepare import unknown_words
from seqgen.data.images.codec import PixelCodec, digit_view, grid_image, load_png, save_png, upsample_nearest
from seqgen.sampling import upsample_tokens


def _out_path(sc, suffix=".png") -> Path:
    out = Path(sc.out) if sc.out else Path(sc.ckpt).resolve().parent.parent / "samples" / f"sample_seed{sc.seed}{suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _upsample(up_model, lo: np.ndarray, sc, device) -> np.ndarray:
    gen = torch.Generator().manual_seed(sc.seed + 1)
    hi = upsample_tokens(up_model, torch.from_numpy(lo).long().to(device), sc.temperature, sc.top_k, gen,
                         sc.retries)
    return hi.cpu().numpy().astype(np.uint8)


def _load_upsampler(path, codec: PixelCodec, device):
    from seqgen.run import load_model

    up, _, state = load_model(path, device)
    if state["model_name"] != "upsampler":
        raise ConfigError(f"upsampler_ckpt={path} holds a '{state['model_name']}' model, not an upsampler")
    if not np.array_equal(PixelCodec.from_json(state["codec"]).palette, codec.palette):
        raise ConfigError(f"upsampler_ckpt={path} was trained with another palette than {codec.size} colours of "
                          f"this text2pixel model: train both stages on the same dataset")
    return up


def draw_and_upsample(sc, model, tokenizer, state, device) -> dict:
    """Draw num_samples images for sc.prompt; with sc.upsampler_ckpt also upsample them 4x."""
    from seqgen.pixel_run import draw

    codec = PixelCodec.from_json(state["codec"])
    if not sc.prompt or not sc.prompt.strip():
        raise ValueError('prompt is empty: give a caption, e.g. prompt="a chipmunk left of a chestnut"')
    unknown = unknown_words(tokenizer, sc.prompt)
    if unknown:
        print(f"[seqgen] warning: not in the caption vocabulary (read as <unk>): {', '.join(unknown)}", flush=True)
    up = _load_upsampler(sc.upsampler_ckpt, codec, device) if sc.upsampler_ckpt else None
    t0 = time.perf_counter()
    lo = draw(model, tokenizer, [sc.prompt] * sc.num_samples, model.config.caption_len, device, sc.guidance,
              sc.temperature, sc.top_k, sc.top_p, seed=sc.seed, use_cache=sc.use_cache)
    t_draw = time.perf_counter() - t0
    out = _out_path(sc)
    ncols = min(len(lo), 4)
    result = {"images": lo, "out": out}
    if up is None:
        grid_image(lo, codec, None, scale=sc.scale, ncols=ncols).save(out)
    else:
        t1 = time.perf_counter()
        hi = _upsample(up, lo, sc, device)
        f = hi.shape[-1] // lo.shape[-1]
        print(f"[seqgen] upsampled {len(hi)} image(s) 4x in {time.perf_counter() - t1:.1f} s", flush=True)
        pairs = [im for a, b in zip(lo, hi) for im in (upsample_nearest(a, f), b)]
        grid_image(pairs, codec, None, scale=1, ncols=2 * ncols).save(out)
        for i, (a, b) in enumerate(zip(lo, hi)):
            save_png(a, codec, out.with_name(f"{out.stem}_{i}_{a.shape[0]}.png"))
            save_png(b, codec, out.with_name(f"{out.stem}_{i}_{b.shape[0]}.png"))
        result.update(hi_images=hi)
    if sc.digits:
        out.with_suffix(".txt").write_text("\n\n".join(digit_view(g) for g in lo) + "\n", encoding="utf-8")
        print(digit_view(lo[0]))
    print(f"[seqgen] {len(lo)} image(s) for {sc.prompt!r} (guidance {sc.guidance}) in {t_draw:.1f} s "
          f"from {sc.ckpt} (step {state['step']}) written to {out}", flush=True)
    return result


def upsample_file(sc, model, state, device) -> dict:
    """sample.py ckpt=<upsampler> image=low.png: quantize with the checkpoint's palette, upsample 4x."""
    codec = PixelCodec.from_json(state["codec"])
    meta = json.loads(state.get("data_meta") or "{}")
    size = meta.get("size", 32)
    if not sc.image:
        raise ConfigError("an upsampler checkpoint needs image=PATH (a low-res PNG to upsample), or use it as "
                          "upsampler_ckpt= beside a text2pixel ckpt=")
    path = Path(sc.image)
    if not path.is_file():
        raise ConfigError(f"image={sc.image}: file not found")
    from PIL import Image

    with Image.open(path) as im:
        if im.size != (size, size):
            raise ValueError(f"image={sc.image} is {im.size[0]}x{im.size[1]}; this upsampler takes {size}x{size} "
                             f"images (resize it first, e.g. with Pillow's Image.resize)")
        rgb = np.asarray(im.convert("RGBA"))
    off = codec.out_of_palette(rgb)
    if off > 0:
        warnings.warn(f"image={sc.image}: {100 * off:.1f}% of its pixels are not palette colours; they were "
                      f"quantized to the nearest of the checkpoint's {codec.size} colours", stacklevel=2)
        print(f"[seqgen] warning: {100 * off:.1f}% of the pixels of {sc.image} are outside the palette; "
              f"quantized to the nearest colour", flush=True)
    lo = load_png(path, codec)[None]
    hi = _upsample(model, lo, sc, device)
    out = _out_path(sc)
    for i in range(sc.num_samples if sc.num_samples > 1 else 1):
        if i:
            sc.seed += 1
            hi = _upsample(model, lo, sc, device)
        target = out if sc.num_samples == 1 else out.with_name(f"{out.stem}_{i}.png")
        save_png(hi[0], codec, target)
        print(f"[seqgen] {sc.image} ({size}x{size}) upsampled to {hi.shape[-1]}x{hi.shape[-1]}: {target}", flush=True)
    return {"images": hi, "out": out}
