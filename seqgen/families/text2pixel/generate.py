"""Drawing from a caption -> pixels model: raster order with a KV cache, classifier-free guidance in one
batch, and sample.py's PNG grid and digit view."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec, digit_view, grid_image
from seqgen.data.images.prepare import encode_caption, unknown_words
from seqgen.nn.sampling import eval_mode, sample_next


@dataclass
class SampleArgs:
    guidance: float | None = 3.0   # classifier-free guidance scale (null: plain conditional sampling)
    digits: bool = False           # also write the digit-grid text view (<out>.txt) and print the first
    scale: int = key(4, ge=1)      # PNG pixels per token


@torch.inference_mode()
def generate_pixels(model, text: torch.Tensor, guidance: float | None = None, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None, use_cache: bool = True,
                    num_pixels: int | None = None) -> torch.Tensor:
    """Draw images for captions text (B, Lc) -> (B, P) palette indices in raster order
    (only the first num_pixels of them when given: for benchmarks and partial drafts).

    guidance=None samples the conditional model. With a guidance scale g, conditional and
    unconditional (null-caption) rows run in one batch of 2B and each step samples from
    logits_uncond + g * (logits_cond - logits_uncond) (classifier-free guidance; g = 1 is the
    conditional model, g = 0 the unconditional one). Without the cache every step re-runs the whole
    prefix (for testing and benchmarks: the cache is the fast path).
    """
    B, P = text.size(0), num_pixels or model.num_pixels
    if guidance is not None:
        text = torch.cat([text, model.null_text(B, text.device)], dim=0)

    def pick(logits):  # logits (B or 2B, K) -> next pixel (B, 1)
        if guidance is not None:
            cond, uncond = logits.float().chunk(2, dim=0)
            logits = uncond + guidance * (cond - uncond)
        return sample_next(logits, temperature, top_k, top_p, generator)

    def both(nxt):  # the drawn pixel is fed to the conditional and the unconditional row alike
        return torch.cat([nxt, nxt], dim=0) if guidance is not None else nxt

    with eval_mode(model):
        out = torch.empty(B, 0, dtype=torch.long, device=text.device)
        if not use_cache:
            for _ in range(P):
                logits = model(text, both(out))[:, -1]
                out = torch.cat([out, pick(logits)], dim=1)
            return out
        cache = model.new_cache(text.size(0))
        logits = model(text, both(out), cache=cache)[:, -1]
        for j in range(P):
            nxt = pick(logits)
            out = torch.cat([out, nxt], dim=1)
            if j < P - 1:
                logits = model(None, both(nxt), cache=cache)[:, -1]
        return out


def draw(model, tokenizer, captions: list[str], caption_len: int, device, guidance=None, temperature=1.0,
         top_k=None, top_p=None, seed: int = 0, batch_size: int = 16, use_cache: bool = True,
         strict: bool = True, progress: bool = False) -> np.ndarray:
    """Captions -> (N, H, W) uint8 palette indices, in batches, seeded (same seed, same images).
    strict: an empty or too-long caption is an error (user prompts); else dataset captions are
    truncated as they were for training. progress: a bar over the batches on a terminal."""
    gen = torch.Generator().manual_seed(seed)
    c = model.config
    out = []
    starts = range(0, len(captions), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="drawing", unit="batch", disable=None, leave=False)
    for s in starts:
        text = torch.tensor([encode_caption(tokenizer, t, caption_len, strict) for t in captions[s:s + batch_size]],
                            device=device)
        px = generate_pixels(model, text, guidance, temperature, top_k, top_p, generator=gen, use_cache=use_cache)
        out.append(px.view(-1, c.height, c.width).cpu().numpy().astype(np.uint8))
    return np.concatenate(out)


def sample(model, tokenizer, state, sc, args: SampleArgs, device) -> dict:
    """sample.py for text2pixel: num_samples images for the caption sc.prompt -> a PNG grid (and the
    digit view). Returns {"images": (N, H, W) palette indices, "codec", "out"}."""
    codec = PixelCodec.from_json(state["codec"])
    if not sc.prompt or not sc.prompt.strip():
        raise ConfigError('prompt is empty: give a caption, e.g. prompt="a chipmunk left of a chestnut"')
    unknown = unknown_words(tokenizer, sc.prompt)
    if unknown:
        print(f"[seqgen] warning: not in the caption vocabulary (read as <unk>): {', '.join(unknown)}", flush=True)
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".png")
    t0 = time.perf_counter()
    lo = draw(model, tokenizer, [sc.prompt] * sc.num_samples, model.config.caption_len, device, args.guidance,
              sc.temperature, sc.top_k, sc.top_p, seed=sc.seed, use_cache=sc.use_cache)
    seconds = time.perf_counter() - t0
    grid_image(lo, codec, None, scale=args.scale, ncols=min(len(lo), 4)).save(out)
    if args.digits:
        out.with_suffix(".txt").write_text("\n\n".join(digit_view(g) for g in lo) + "\n", encoding="utf-8")
        print(digit_view(lo[0]))
    print(f"[seqgen] {len(lo)} image(s) for {sc.prompt!r} (guidance {args.guidance}) in {seconds:.1f} s "
          f"from {sc.ckpt} (step {state['step']}) written to {out}", flush=True)
    return {"images": lo, "codec": codec, "out": out}
