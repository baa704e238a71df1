"""Pure sampling functions: logit filters, sample_next, and KV-cache generation.

Everything random takes an explicit torch.Generator, so the same seed gives the same tokens.
No tokenizing and no file I/O here.
"""

from __future__ import annotations

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits per row of (B, V); the rest become -inf."""
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of tokens whose probability mass reaches p."""
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = sorted_logits.softmax(dim=-1)
    # drop a token when the mass before it already reaches p (the top token is always kept)
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token id per row of logits (B, V) -> (B, 1). temperature 0 is greedy."""
    logits = logits.float()
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.size(-1):
        logits = top_k_filter(logits, top_k)
    if top_p is not None and 0.0 < top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    if generator is not None and generator.device != probs.device:
        # torch.multinomial needs a generator on the probabilities' device: draw on the CPU
        return torch.multinomial(probs.cpu(), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)


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
