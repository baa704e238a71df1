"""Drawing 128x128 from 32x32 with the block upsampler: two checkerboard passes of a KV-cache block
decode (blocks that share a state share the network), redraws for the 4x rule, and sample.py's
image= upsampling of a PNG."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec, load_png, save_png
from seqgen.nn.sampling import eval_mode, sample_next


@dataclass
class SampleArgs:
    image: str | None = None   # a low-res PNG to upsample (with ckpt=<upsampler>)
    retries: int = key(3, ge=0)   # redraws of a block whose 4x reduction misses its low-res pixel


def block_mode(blocks: torch.Tensor, n_colors: int) -> torch.Tensor:
    """(N, f*f) block pixels -> (N,) most frequent index, ties to the lower index (the 4x rule)."""
    counts = F.one_hot(blocks, n_colors).sum(dim=1)                   # (N, K)
    return counts.argmax(dim=1)                                       # argmax returns the first maximum


@torch.inference_mode()
def _draw_blocks(model, prefix: torch.Tensor, temperature, top_k, generator, chunk: int = 4096) -> torch.Tensor:
    """prefix (N, W+4f) -> (N, f*f) block pixels drawn with the KV cache.

    Blocks with the same context and the same pixels drawn so far have the same next-pixel
    distribution, so the network runs once per distinct state and every block samples from its
    state's row: exact, and most blocks (flat regions) share a handful of states. Blocks are sorted
    by context and decoded in chunks of `chunk` blocks to bound the cache's memory.
    """
    N, K = prefix.size(0), model.config.n_colors
    out = torch.empty(N, model.n_block, dtype=torch.long, device=prefix.device)
    if N == 0:
        return out
    _, inverse = torch.unique(prefix, dim=0, return_inverse=True)
    order = inverse.argsort(stable=True)            # identical contexts next to each other
    for s in range(0, N, chunk):
        rows = order[s:s + chunk]
        contexts, state = torch.unique(prefix[rows], dim=0, return_inverse=True)   # (U, P), (n,)
        cache = model.new_cache(contexts.size(0))
        logits = model(contexts, prefix.new_empty(contexts.size(0), 0), cache=cache)[:, -1]   # (U, K)
        drawn = []
        for j in range(model.n_block):
            nxt = sample_next(logits.index_select(0, state), temperature, top_k, None, generator)  # (n, 1)
            drawn.append(nxt)
            if j == model.n_block - 1:
                break
            keys, state = torch.unique(state * K + nxt.squeeze(1), return_inverse=True)   # new states
            cache.select(keys // K)                 # each new state continues its parent's cache
            logits = model(None, (keys % K)[:, None], cache=cache)[:, -1]
        out[rows] = torch.cat(drawn, dim=1)
    return out


@torch.inference_mode()
def upsample_tokens(model, lo: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                    generator: torch.Generator | None = None, retries: int = 3) -> torch.Tensor:
    """lo (B, h, w) palette indices -> (B, h*f, w*f) drawn by the block upsampler in two
    checkerboard passes (see models/upsampler.py). A block whose most frequent index disagrees with
    its low-res pixel is redrawn up to `retries` times: that samples the model restricted to blocks
    the 4x rule maps back to the input (ground truth always is), so consistency only improves.
    """
    with eval_mode(model):
        B, h, w = lo.shape
        f = model.config.factor
        canvas = torch.full((B, h * f, w * f), model.UNKNOWN, dtype=torch.long, device=lo.device)
        K = model.config.n_colors
        windows = model.windows(lo)                                    # (B, h, w, W)
        parity = model.parity(h, w, lo.device)
        for p in (0, 1):
            sel = parity == p                                          # (h, w)
            prefix = torch.cat([windows, model.borders(canvas)], dim=-1)[:, sel]   # (B, n, W+4f)
            n = prefix.size(1)
            prefix = prefix.reshape(B * n, -1)
            target = lo[:, sel].reshape(-1)
            blocks = _draw_blocks(model, prefix, temperature, top_k, generator)
            for _ in range(retries):
                bad = (block_mode(blocks, K) != target).nonzero().squeeze(1)
                if bad.numel() == 0:
                    break
                blocks[bad] = _draw_blocks(model, prefix[bad], temperature, top_k, generator)
            full = model.block_pixels(canvas)
            full[:, sel] = blocks.view(B, n, -1)
            canvas = model.place_blocks(canvas, full, torch.ones_like(sel))
        return canvas


def transform_images(model, state, lo: np.ndarray, sc, args: SampleArgs, device) -> np.ndarray:
    """(N, h, w) palette indices -> (N, h*f, w*f), seeded by sc.seed + 1 (the caption -> 32x32 ->
    128x128 pipeline draws the 32x32 images with sc.seed)."""
    gen = torch.Generator().manual_seed(sc.seed + 1)
    hi = upsample_tokens(model, torch.from_numpy(lo).long().to(device), sc.temperature, sc.top_k, gen,
                         args.retries)
    return hi.cpu().numpy().astype(np.uint8)


def sample(model, tokenizer, state, sc, args: SampleArgs, device) -> dict:
    """sample.py ckpt=<upsampler> image=low.png: quantize with the checkpoint's palette, upsample 4x."""
    codec = PixelCodec.from_json(state["codec"])
    meta = json.loads(state.get("data_meta") or "{}")
    size = meta.get("size", 32)
    if not args.image:
        raise ConfigError("an upsampler checkpoint needs image=PATH (a low-res PNG to upsample), or use it as "
                          "upsampler_ckpt= beside a text2pixel ckpt=")
    path = Path(args.image)
    if not path.is_file():
        raise ConfigError(f"image={args.image}: file not found")
    from PIL import Image

    with Image.open(path) as im:
        if im.size != (size, size):
            raise ConfigError(f"image={args.image} is {im.size[0]}x{im.size[1]}; this upsampler takes {size}x{size} "
                              f"images (resize it first, e.g. with Pillow's Image.resize)")
        rgb = np.asarray(im.convert("RGBA"))
    off = codec.out_of_palette(rgb)
    if off > 0:
        warnings.warn(f"image={args.image}: {100 * off:.1f}% of its pixels are not palette colours; they were "
                      f"quantized to the nearest of the checkpoint's {codec.size} colours", stacklevel=2)
        print(f"[seqgen] warning: {100 * off:.1f}% of the pixels of {args.image} are outside the palette; "
              f"quantized to the nearest colour", flush=True)
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".png")
    lo = load_png(path, codec)[None]
    for i in range(max(1, sc.num_samples)):   # sample i is drawn with seed sc.seed + i
        hi = transform_images(model, state, lo, replace(sc, seed=sc.seed + i), args, device)
        target = out if sc.num_samples == 1 else out.with_name(f"{out.stem}_{i}.png")
        save_png(hi[0], codec, target)
        print(f"[seqgen] {args.image} ({size}x{size}) upsampled to {hi.shape[-1]}x{hi.shape[-1]}: {target}", flush=True)
    return {"images": hi, "out": out}
