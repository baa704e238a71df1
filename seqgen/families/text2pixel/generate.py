"""Drawing from a caption -> pixels model: raster order with a KV cache, classifier-free guidance in one
batch, and sample.py's PNG grid and digit view."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path
from seqgen.core.schema import key
from seqgen.data.images.codec import PixelCodec, digit_view, grid_image
from seqgen.data.images.prepare import encode_caption, unknown_words
from seqgen.families.text2pixel.settings import settings_of
from seqgen.nn.sampling import eval_mode, sample_next


@dataclass
class SampleArgs:
    guidance: float | str | None = "run"   # classifier-free guidance scale (null: plain conditional sampling;
    #                                          "run": the scale the checkpoint's run used, text2pixel.guidance)
    digits: bool = False           # also write the digit-grid text view (<out>.txt) and print the first
    scale: int = key(4, ge=1)      # PNG pixels per token


def run_guidance(value, state) -> float | None:
    """A guidance key's value, with "run" read as the checkpoint's own text2pixel.guidance (the scale
    its recipe chose; 3.0 for runs that predate the key: the settings' patch steps)."""
    if not isinstance(value, str):
        if value is not None and value < 0:
            raise ConfigError(f"guidance={value}: expected a scale >= 0 (0: unconditional, 1: plain conditional, "
                              f"> 1: guided), null or run")
        return value
    if value != "run":
        raise ConfigError(f"guidance={value!r}: expected a number, null (no guidance) or run (the checkpoint's "
                          "text2pixel.guidance)")
    return settings_of(state).guidance


def _guided(logits: torch.Tensor, guidance: float | None) -> torch.Tensor:
    """Classifier-free guidance: (2B, ...) conditional rows then unconditional ones -> (B, ...)
    uncond + g * (cond - uncond); without guidance the (B, ...) logits as they are."""
    if guidance is None:
        return logits
    cond, uncond = logits.float().chunk(2, dim=0)
    return uncond + guidance * (cond - uncond)


def _next_token(model, h: torch.Tensor, guidance, temperature, top_k, top_p, generator):
    """One drawing step: the hidden state of the next slot h (B or 2B, C) -> the next token (B, 1) and
    its pixels (B, 1, p*p) (None for patch 1); an <esc> token's pixels come from the pixel head."""
    B, esc, K = h.size(0) // (1 if guidance is None else 2), model.esc_id, model.config.n_colors
    tok = sample_next(_guided(model.head(h), guidance), temperature, top_k, top_p, generator)
    if esc is None:
        return tok, None
    raw = model.patch_vocab[tok.clamp(max=model.config.n_tokens - 1)]           # (B, 1, p*p)
    rows = (tok[:, 0] == esc).nonzero()[:, 0]
    if rows.numel():
        hh = h[rows] if guidance is None else torch.cat([h[rows], h[rows + B]])
        px = _guided(model.pixel_logits(hh), guidance)                            # (n, p*p, K)
        drawn = sample_next(px.reshape(-1, K), temperature, top_k, top_p, generator)
        raw[rows, 0] = drawn.view(len(rows), -1)
    return tok, raw


@torch.inference_mode()
def generate_pixels(model, text: torch.Tensor, guidance: float | None = None, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None, use_cache: bool = True,
                    num_tokens: int | None = None) -> torch.Tensor:
    """Draw images for captions text (B, Lc) -> (B, H*W) palette indices in raster order; with
    num_tokens < the image's, only that many image tokens (B, num_tokens) (benchmarks, drafts).

    Each step: the hidden state of the next slot -> token logits -> (guidance) -> a token; an <esc>
    token (patch > 1) then draws its p*p pixels from the pixel head the same way. guidance=None samples
    the conditional model. With a scale g, conditional and unconditional (null-caption) rows run in one
    batch of 2B and each draw uses logits_uncond + g * (logits_cond - logits_uncond) (classifier-free
    guidance; g = 1 is the conditional model); the drawn token is fed to both rows. Without the cache
    every step re-runs the whole prefix (for tests and benchmarks: the cache is the fast path).
    """
    B, L = text.size(0), num_tokens or model.num_tokens
    if guidance is not None:
        text = torch.cat([text, model.null_text(B, text.device)], dim=0)

    def both(x):   # what was drawn goes to the conditional and the unconditional rows alike
        return torch.cat([x, x], dim=0) if guidance is not None and x is not None else x

    with eval_mode(model):
        toks = torch.empty(B, 0, dtype=torch.long, device=text.device)
        raws = None if model.esc_id is None else torch.empty(B, 0, model.config.patch ** 2, dtype=torch.long,
                                                              device=text.device)
        cache = model.new_cache(text.size(0)) if use_cache else None
        h = model.features(text, both(toks), both(raws), cache=cache)[:, -1]
        for j in range(L):
            tok, raw = _next_token(model, h, guidance, temperature, top_k, top_p, generator)
            toks = torch.cat([toks, tok], dim=1)
            raws = None if raw is None else torch.cat([raws, raw], dim=1)
            if j == L - 1:
                break
            if use_cache:
                h = model.features(None, both(tok), both(raw), cache=cache)[:, -1]
            else:
                h = model.features(text, both(toks), both(raws))[:, -1]
        return model.decode(toks, raws) if L == model.num_tokens else toks


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
    guidance = run_guidance(args.guidance, state)
    lo = draw(model, tokenizer, [sc.prompt] * sc.num_samples, model.config.caption_len, device, guidance,
              sc.temperature, sc.top_k, sc.top_p, seed=sc.seed, use_cache=sc.use_cache)
    seconds = time.perf_counter() - t0
    grid_image(lo, codec, None, scale=args.scale, ncols=min(len(lo), 4)).save(out)
    if args.digits:
        out.with_suffix(".txt").write_text("\n\n".join(digit_view(g) for g in lo) + "\n", encoding="utf-8")
        print(digit_view(lo[0]))
    print(f"[seqgen] {len(lo)} image(s) for {sc.prompt!r} (guidance {guidance}) in {seconds:.1f} s "
          f"from {sc.ckpt} (step {state['step']}) written to {out}", flush=True)
    return {"images": lo, "codec": codec, "out": out}
