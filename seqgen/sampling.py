"""Pure sampling functions: logit filters, sample_next, and KV-cache generation.

Everything random takes an explicit torch.Generator, so the same seed gives the same tokens.
No tokenizing and no file I/O here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgen.nn.sampling import sample_next, top_k_filter, top_p_filter  # noqa: F401


@torch.inference_mode()
def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """Extend idx (B, T0) by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens).

    With the KV cache each step feeds one token. When the context fills block_size, the oldest half
    is dropped and the rest re-encoded (amortised O(1) per token); without the cache every step
    re-runs the last block_size tokens (nanoGPT's way). Both give identical tokens while the whole
    sequence fits in block_size.
    """
    block = model.config.block_size
    was_training = model.training
    model.eval()
    try:
        if not use_cache:
            for _ in range(max_new_tokens):
                logits = model(idx[:, -block:])[:, -1, :]
                idx = torch.cat([idx, sample_next(logits, temperature, top_k, top_p, generator)], dim=1)
            return idx
        cache = model.new_cache(idx.size(0))
        logits = model(idx[:, -block:], cache=cache)[:, -1, :]
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            idx = torch.cat([idx, nxt], dim=1)
            if i == max_new_tokens - 1:
                break
            if cache.length >= block:  # context full: keep the newest half, re-encode it
                cache.reset()
                logits = model(idx[:, -(block // 2):], cache=cache)[:, -1, :]
            else:
                logits = model(nxt, cache=cache)[:, -1, :]
        return idx
    finally:
        model.train(was_training)


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

    was_training = model.training
    model.eval()
    try:
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
    finally:
        model.train(was_training)


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
    was_training = model.training
    model.eval()
    try:
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
    finally:
        model.train(was_training)
