"""Drawing 128x128 from 32x32 with the block upsampler: two checkerboard passes of a KV-cache block
decode (blocks that share a state share the network), redraws for the 4x rule, and sample.py's
image= upsampling of a PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec, save_png
from seqgen.data.images.safe import open_image
from seqgen.families.upsampler.settings import DECODES, Settings, settings_of
from seqgen.nn.sampling import eval_mode, sample_next


@dataclass
class SampleArgs:
    image: str | None = None   # a low-res PNG to upsample (with ckpt=<upsampler>)
    decode: str | None = key(None, choices=DECODES)   # null: the checkpoint's upsampler.decode
    constrained: bool = True      # every block drawn (or repaired) to map back to its low-res pixel exactly
    retries: int = key(0, ge=0)   # constrained=false: redraws of a block whose 4x reduction misses its pixel


def block_mode(blocks: torch.Tensor, n_colors: int) -> torch.Tensor:
    """(N, f*f) block pixels -> (N,) most frequent index, ties to the lower index (the 4x rule)."""
    counts = F.one_hot(blocks, n_colors).sum(dim=1)                   # (N, K)
    return counts.argmax(dim=1)                                       # argmax returns the first maximum


@torch.inference_mode()
def feasible_colours(counts: torch.Tensor, target: torch.Tensor, remaining: int) -> torch.Tensor:
    """Which next colours still let a block end with `target` as its 4x-rule mode.

    counts (n, K): colours drawn so far per block; target (n,): its low-res pixel; remaining: pixels
    left after this one. The mode rule breaks ties to the lower index, so `target` must end with more
    pixels than any lower index and at least as many as any higher one. A colour is feasible when
    filling every remaining pixel with `target` would then satisfy that. -> (n, K) bool."""
    n, K = counts.shape
    idx = torch.arange(K, device=counts.device)
    need = counts + (idx[None, :] < target[:, None]).long()           # what target must reach, per rival
    rival = need.masked_fill(idx[None, :] == target[:, None], -1)     # (n, K), target itself excluded
    best = rival.max(dim=1).values                                    # the strongest rival before this pixel
    lo_now = counts.gather(1, target[:, None])[:, 0]
    # choosing target: lo_now + 1 + remaining >= best; choosing rival c: its need grows by one
    ok_target = lo_now + 1 + remaining >= best
    ok_other = torch.maximum(best[:, None], rival + 1) <= (lo_now + remaining)[:, None]
    return torch.where(idx[None, :] == target[:, None], ok_target[:, None], ok_other)


def _draw_blocks(model, prefix: torch.Tensor, temperature, top_k, generator, chunk: int = 4096,
                 constrained: bool = False) -> torch.Tensor:
    """prefix (N, W+4f) -> (N, f*f) block pixels drawn with the KV cache.

    Blocks with the same context and the same pixels drawn so far have the same next-pixel
    distribution, so the network runs once per distinct state and every block samples from its
    state's row: exact, and most blocks (flat regions) share a handful of states. Blocks are sorted
    by context and decoded in chunks of `chunk` blocks to bound the cache's memory.
    constrained: colours that would make the block's 4x-rule mode differ from its low-res pixel (the
    window's centre) are masked at every step, so every block maps back to its input exactly.
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
        target = prefix[rows, model.n_window // 2]                  # each block's low-res pixel
        counts = torch.zeros(len(rows), K, dtype=torch.long, device=prefix.device)
        for j in range(model.n_block):
            rows_logits = logits.index_select(0, state)
            if constrained:
                ok = feasible_colours(counts, target, model.n_block - j - 1)
                rows_logits = rows_logits.float().masked_fill(~ok, float("-inf"))
            nxt = sample_next(rows_logits, temperature, top_k, None, generator)  # (n, 1)
            counts.scatter_add_(1, nxt, torch.ones_like(nxt))
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
                    generator: torch.Generator | None = None, retries: int = Settings.retries,
                    constrained: bool = False) -> torch.Tensor:
    """lo (B, h, w) palette indices -> (B, h*f, w*f) drawn by the block upsampler in two
    checkerboard passes (see model.py). constrained: every block is drawn under the 4x rule (colours
    that would break it are masked), so each maps back to its low-res pixel. Otherwise a block whose
    most frequent index disagrees with its low-res pixel is redrawn up to `retries` times.
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
            blocks = _draw_blocks(model, prefix, temperature, top_k, generator, constrained=constrained)
            for _ in range(0 if constrained else retries):
                bad = (block_mode(blocks, K) != target).nonzero().squeeze(1)
                if bad.numel() == 0:
                    break
                blocks[bad] = _draw_blocks(model, prefix[bad], temperature, top_k, generator)
            full = model.block_pixels(canvas)
            full[:, sel] = blocks.view(B, n, -1)
            canvas = model.place_blocks(canvas, full, torch.ones_like(sel))
        return canvas


@torch.inference_mode()
def make_consistent(hi: torch.Tensor, lo: torch.Tensor, probs: torch.Tensor, factor: int) -> torch.Tensor:
    """Repair every block whose 4x-rule mode misses its low-res pixel: turn its pixels most likely to
    be that colour (by probs) into it, one at a time, until the mode is right. Exact: afterwards every
    block maps back. hi (B, H, W), lo (B, h, w), probs (B, K, H, W) -> hi (B, H, W)."""
    f, K = factor, probs.size(1)
    blocks = rearrange(hi, "b (h fy) (w fx) -> (b h w) (fy fx)", fy=f, fx=f).clone()
    p_lo = rearrange(probs.gather(1, lo.repeat_interleave(f, 1).repeat_interleave(f, 2)[:, None])[:, 0],
                     "b (h fy) (w fx) -> (b h w) (fy fx)", fy=f, fx=f).clone()   # p(pixel = its lo colour)
    target = lo.reshape(-1)
    for _ in range(f * f):
        bad = (block_mode(blocks, K) != target).nonzero()[:, 0]
        if bad.numel() == 0:
            break
        cand = p_lo[bad].masked_fill(blocks[bad] == target[bad, None], -1.0)   # pixels not yet lo
        pick = cand.argmax(dim=1)
        blocks[bad, pick] = target[bad]
    B, h, w = lo.shape
    return rearrange(blocks, "(b h w) (fy fx) -> b (h fy) (w fx)", b=B, h=h, w=w, fy=f, fx=f)


@torch.inference_mode()
def upsample_conv(model, lo: torch.Tensor, decode: str = "mee", temperature: float = 1.0,
                  generator: torch.Generator | None = None, palette: torch.Tensor | None = None,
                  constrained: bool = True) -> torch.Tensor:
    """The one-pass upsampler (conv.py): lo (B, h, w) -> (B, h*f, w*f) in one forward.

    decode: sample (each pixel from its distribution, at `temperature`), greedy (its most likely
    colour: the best token accuracy), mee (the palette colour nearest the distribution's expected RGB:
    the minimum expected squared error, hence the best PSNR; needs the palette (K, 3)). constrained:
    then every block is repaired to map back to its low-res pixel exactly (make_consistent)."""
    with eval_mode(model):
        logits = model(lo).float()                                       # (B, K, H, W)
        probs = (logits / max(temperature, 1e-6)).softmax(dim=1) if decode == "sample" else logits.softmax(dim=1)
        if decode == "greedy":
            hi = probs.argmax(dim=1)
        elif decode == "mee":
            if palette is None:
                raise ConfigError("decode=mee needs the palette (the checkpoint's codec)")
            pal = palette.to(probs.device, torch.float32)                # (K, 3)
            mean = torch.einsum("bkhw,kc->bhwc", probs, pal)             # expected RGB per pixel
            hi = torch.cdist(mean.reshape(-1, 3), pal).argmin(dim=1).view(mean.shape[:3])
        elif decode == "sample":
            flat = rearrange(probs, "b k h w -> (b h w) k")
            hi = torch.multinomial(flat.cpu(), 1, generator=generator).to(lo.device).view(
                lo.size(0), *probs.shape[2:])
        else:
            raise ConfigError(f"decode={decode!r}: expected sample, greedy or mee")
        return make_consistent(hi, lo, probs, model.config.factor) if constrained else hi


def upsample(model, lo: torch.Tensor, decode: str = "sample", temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None, palette=None, constrained: bool = True,
             retries: int = 0) -> torch.Tensor:
    """Either architecture: lo (B, h, w) -> (B, h*f, w*f). The block model decodes `sample` at
    `temperature` (top_k) or `greedy`; the conv model also `mee`."""
    if model.config.arch == "conv":
        return upsample_conv(model, lo, decode, temperature, generator, palette, constrained)
    if decode == "mee":
        raise ConfigError("decode=mee needs the one-pass model (model.arch=conv); the block model samples or "
                          "decodes greedily")
    return upsample_tokens(model, lo, 0.0 if decode == "greedy" else temperature, top_k, generator, retries,
                           constrained)


def transform_images(model, state, lo: np.ndarray, sc, args: SampleArgs, device) -> np.ndarray:
    """(N, h, w) palette indices -> (N, h*f, w*f), seeded by sc.seed + 1 (the caption -> 32x32 ->
    128x128 pipeline draws the 32x32 images with sc.seed)."""
    gen = torch.Generator().manual_seed(sc.seed + 1)
    decode = args.decode or settings_of(state).decode
    palette = torch.from_numpy(PixelCodec.from_json(state["codec"]).palette.astype(np.float32))
    hi = upsample(model, torch.from_numpy(lo).long().to(device), decode, sc.temperature, sc.top_k, gen, palette,
                  args.constrained, args.retries)
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
    # the size is checked from the header, before anything is decoded (a tiny file may claim 10000x10000)
    with open_image(path, f"image={args.image}", expect=(size, size),
                    mismatch=lambda w, h: f"image={args.image} is {w}x{h}; this upsampler takes {size}x{size} "
                                          f"images (resize it first, e.g. with Pillow's Image.resize)") as im:
        rgb = np.asarray(im.convert("RGBA"))
    off = codec.out_of_palette(rgb)
    if off > 0:
        # one line, said once (it was also a raw UserWarning with a source path)
        print(f"[seqgen] warning: image={args.image}: {100 * off:.1f}% of its pixels are not palette colours; "
              f"quantized to the nearest of the checkpoint's {codec.size} colours", flush=True)
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".png")
    lo = codec.quantize(rgb)[None]
    for i in range(max(1, sc.num_samples)):   # sample i is drawn with seed sc.seed + i
        hi = transform_images(model, state, lo, replace(sc, seed=sc.seed + i), args, device)
        target = out if sc.num_samples == 1 else out.with_name(f"{out.stem}_{i}.png")
        save_png(hi[0], codec, target)
        print(f"[seqgen] {args.image} ({size}x{size}) upsampled to {hi.shape[-1]}x{hi.shape[-1]}: {target}", flush=True)
    return {"images": hi, "out": out}
